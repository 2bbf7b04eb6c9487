// One split as the trainer and `wrn eval` read it: decoded in memory (a Dataset at the spec's
// size), or streamed (a file list decoded by the preprocessing spec each time it is read).
//
// Either way the same per-sample functions make an image: eval_sample is the spec's
// evaluation transform (data::load_eval_sample for files); train_sample its per-sample
// training transform from the sample's own generator (seed, epoch, index). A set held in
// memory was made by eval_sample, so it and its streamed form give identical batches.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "wrn/data/batch_loader.h"
#include "wrn/data/dataset.h"
#include "wrn/data/image_list.h"
#include "wrn/data/preprocessing.h"

namespace wrn::data {

struct SplitData {
  std::string name;                      // "fashion-mnist", "folder:/data/x/val", ...
  Dataset memory;                        // in memory: uint8 [N, C, H, W] (undefined when streamed)
  ImageList files;                       // the files and labels of an image folder (either form); empty otherwise
  torch::Tensor labels;                  // int64 [N] on the CPU, both forms
  std::vector<std::string> class_names;
  std::vector<std::pair<std::string, std::string>> skipped;  // (file, error) left out by on_bad_image skip

  bool streamed() const { return !memory.images.defined() && !files.paths.empty(); }
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }

  // uint8 [C, H, W] of sample `index` (in [0, size())) under `spec`. Throws FileError naming
  // the file for a streamed image that cannot be read.
  torch::Tensor eval_sample(int64_t index, const Preprocessing& spec) const;
  torch::Tensor train_sample(int64_t index, int64_t epoch, uint64_t seed, const Preprocessing& spec) const;

  // A loader of eval_sample over the whole split in index order, started on batches of
  // `batch_size` (the split must outlive it).
  std::unique_ptr<BatchLoader> eval_loader(const Preprocessing& spec, const LoaderOptions& options,
                                           int64_t batch_size) const;

  // The rows `indices` (int64) of this split, in that order, in the same form.
  SplitData subset(const std::vector<int64_t>& indices) const;
};

// An in-memory split from a Dataset.
SplitData in_memory(Dataset set);
// A streamed split from a file list.
SplitData streamed(ImageList list);

// Decodes a streamed split into memory by eval_sample on `loader_options.workers` threads (the
// images are [spec.channels, spec.height, spec.width]); with skip_bad, failing files are left
// out and listed in `skipped`. Already in memory: returned as is.
SplitData decode_all(const SplitData& split, const Preprocessing& spec, const LoaderOptions& loader_options);

}  // namespace wrn::data
