// The data of a run, from its config: the splits (train, the held-out validation split,
// test), each in memory or streamed, and the resolved preprocessing spec.
//
// Layouts of kind "folder" (data.dir):
//   <dir>/train/<class>/<images>, and <dir>/val or <dir>/test the same way: data.test_split
//   names the folder; "test" falls back to val/ and "val" to test/ when only the other exists;
//   <dir>/<split>.txt or .tsv: a list file, `path<TAB>label` lines (paths relative to it).
// data.val_fraction > 0 holds out that share of the train split, per class with a seeded
// shuffle, for choosing best.ckpt (every kind). data.limit_train / limit_test keep a seeded
// subset with the class proportions kept.
// Storage (folders): memory decodes each split once with the eval geometry; stream keeps the
// file list and decodes per batch on data.workers threads; auto streams for
// random_resized_crop (it crops the original images) and when the decoded splits would take
// more than a quarter of the RAM, and says why in `storage_reason`.
#pragma once

#include <cstdint>
#include <string>

#include "wrn/data/preprocessing.h"
#include "wrn/data/split_data.h"
#include "wrn/config/config.h"

namespace wrn::train {

struct RunData {
  data::Preprocessing spec;  // resolved (normalization not yet filled in)
  data::SplitData train;     // empty unless loaded
  data::SplitData val;       // empty unless data.val_fraction > 0 (and the train split was loaded)
  data::SplitData test;
  bool streamed = false;     // the train split is streamed
  std::string storage_reason;
  std::string test_folder;   // folders: what data.test_split resolved to ("val", "test", "val.txt")
};

// Reads the splits (train only when `load_train`). `config` must be validated. The spec's
// size and channels come from the config when set, else from the data (see ImageOptions).
// `class_names` (a checkpoint's): the label order of an image folder's test split when the
// train split is not loaded (eval), so a split missing a class keeps the model's labels.
// Throws ConfigError / FileError naming the key or file.
RunData load_run_data(const TrainConfig& config, bool load_train, const std::vector<std::string>& class_names = {});

// The options a streaming split's loaders take from the config.
data::LoaderOptions loader_options(const TrainConfig& config);

}  // namespace wrn::train
