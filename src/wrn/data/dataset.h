// Labelled image sets held in memory as one uint8 tensor.
//
// Contract: images are uint8 [N, C, H, W] (contiguous, CPU unless moved), labels int64 [N]
// with values in [0, classes). Readers validate magic numbers, sizes and counts and throw
// wrn::FileError naming the file and what was expected on a missing, truncated, corrupt or
// mismatched file: never a crash, never silent garbage.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

namespace wrn::data {

struct Dataset {
  std::string name;                      // "fashion-mnist", "cifar10", "folder:/path", ...
  torch::Tensor images;                  // uint8 [N, C, H, W]
  torch::Tensor labels;                  // int64 [N]
  std::vector<std::string> class_names;  // size == number of classes

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
  // Moves images and labels (e.g. to CUDA, to keep the whole set on the GPU).
  Dataset to(const torch::Device& device) const;
  // The rows `indices` (int64 tensor) of this set.
  Dataset subset(const torch::Tensor& indices) const;
};

// How an image folder is loaded into the fixed-size uint8 store.
struct ImageFolderOptions {
  // Stored image size; 0 and 0: the size of the first image (by sorted path) of the split.
  int64_t height = 0;
  int64_t width = 0;
  // true: scale to cover height x width keeping the aspect ratio, then center crop;
  // false: stretch to height x width.
  bool keep_aspect = true;
  // 0: 1 when every image is grey, else 3 (grey images replicated); or 1 / 3 explicitly.
  int64_t channels = 0;
  // Decoding threads; 0: all hardware threads.
  int threads = 0;
  // The label order when non-empty (so "val" uses the "train" classes); every sub-folder
  // must be one of them. Empty: the sorted sub-folder names.
  std::vector<std::string> class_names;
};

// What wrn knows about each kind of data set it reads, in one table.
struct DatasetKindInfo {
  std::string name;                 // "fashion-mnist", "mnist", "cifar10", "cifar100", "cifar100-coarse", "svhn", "folder"
  int64_t channels = 0;             // the stored image shape; 0 for "folder" (the images decide)
  int64_t height = 0, width = 0;
  std::vector<std::string> class_names;  // the standard names; empty for "folder"
};

// The table, in the order `dataset_kinds()` lists them.
const std::vector<DatasetKindInfo>& dataset_kind_table();
// One kind's entry; throws ConfigError listing the kinds (with a did-you-mean) for another name.
const DatasetKindInfo& dataset_kind(const std::string& name);

// The data set kinds `wrn` reads: "fashion-mnist", "mnist", "cifar10", "cifar100",
// "cifar100-coarse", "svhn", "folder".
std::vector<std::string> dataset_kinds();

// Where a kind's files are looked for when no --data dir is given
// (fashion-mnist: /usr/share/datasets/fashion-mnist, the Debian package's location).
std::string default_data_dir(const std::string& kind);

// Loads one split: "train", "test" (for SVHN also "extra" and "train+extra"; for image
// folders "train" and "val" sub-folders, with "test" meaning "val").
// Throws wrn::ConfigError for an unknown kind/split, wrn::FileError for bad files.
Dataset load_split(const std::string& kind, const std::string& dir, const std::string& split);
// The same, with the options for kind "folder" (ignored by the other kinds). For "val"/"test"
// with no class_names given, the class order comes from the "train" sub-folder when it exists.
Dataset load_split(const std::string& kind, const std::string& dir, const std::string& split,
                   const ImageFolderOptions& folder_options);

}  // namespace wrn::data
