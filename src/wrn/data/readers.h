// The individual readers behind load_split (dataset.h). Each returns a Dataset whose
// images are uint8 [N, C, H, W] on the CPU and labels int64 [N], and throws wrn::FileError
// naming the file and what was expected when a file is missing, truncated, corrupt or
// inconsistent with its companions; wrn::ConfigError for an unknown split.
#pragma once

#include <string>
#include <vector>

#include "wrn/data/dataset.h"

namespace wrn::data {

// Bounds on what one data file may declare, checked against its header (IDX dims, a .mat
// variable's dims, a file's decompressed size) before anything is allocated or inflated: a
// 2 MB gzip file can inflate to gigabytes. Defaults: 2 GiB of data and 2^22 images per file
// (SVHN's extra_32x32.mat, the largest real file, holds 1.63 GB in 531,131 images). The
// environment variables WRN_MAX_DATA_BYTES and WRN_MAX_IMAGES (decimal) override them at the
// first read; set_read_limits() too (process-wide, e.g. tests). Going over one is a
// wrn::FileError naming the file, the declared size and the limit.
struct ReadLimits {
  uint64_t max_bytes = uint64_t{2} << 30;
  uint64_t max_images = uint64_t{1} << 22;
};
ReadLimits read_limits();
void set_read_limits(const ReadLimits& limits);

// MNIST / Fashion-MNIST IDX files in `dir`: <prefix>-images-idx3-ubyte and
// <prefix>-labels-idx1-ubyte, plain or .gz, prefix "train" or "t10k" (split "test").
// Checks magic 0x00000803 / 0x00000801, exact data sizes from the headers, equal image and
// label counts and labels < class_names.size().
Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path,
                      const std::string& name, const std::vector<std::string>& class_names);
Dataset load_mnist(const std::string& dir, const std::string& split, bool fashion);

// CIFAR-10 binary version: `dir` is cifar-10-batches-bin or its parent. Train = data_batch_1..5.bin,
// test = test_batch.bin; records of 1 label byte + 3072 pixel bytes (R, G, B planes of 32x32).
// Class names from batches.meta.txt when present (must list 10), else the standard ones.
Dataset load_cifar10(const std::string& dir, const std::string& split);

// CIFAR-100 binary version: `dir` is cifar-100-binary or its parent; train.bin / test.bin,
// records of coarse byte, fine byte, 3072 pixel bytes. `coarse` picks the 20 super-classes.
// Names from fine_label_names.txt / coarse_label_names.txt when present, else the standard ones.
Dataset load_cifar100(const std::string& dir, const std::string& split, bool coarse);

// SVHN cropped digits (MATLAB v5 .mat): {train,test,extra}_32x32.mat with X uint8 [H,W,3,N]
// and y [N,1] (any real class; 10 means digit 0). Splits "train", "test", "extra", "train+extra".
Dataset load_svhn(const std::string& dir, const std::string& split);

// One sub-folder per class under `root`, PNG or JPEG files (by content, not extension),
// decoded on `options.threads` threads and resized to one size (see ImageFolderOptions).
Dataset load_image_folder(const std::string& root, const ImageFolderOptions& options = {});

// The non-empty lines of a text file, trimmed: class names, one per line (CIFAR's
// batches.meta.txt, predict/import --labels). Throws wrn::FileError naming a missing file.
std::vector<std::string> read_name_lines(const std::string& path);

// The standard class names.
const std::vector<std::string>& fashion_mnist_classes();
const std::vector<std::string>& cifar10_classes();
const std::vector<std::string>& cifar100_fine_classes();
const std::vector<std::string>& cifar100_coarse_classes();

}  // namespace wrn::data
