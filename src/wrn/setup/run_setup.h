// What a run is built from: the device, the data splits, the normalizer and the model, made
// from a TrainConfig (training, and `wrn eval` from a checkpoint's config).
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "wrn/config/config.h"
#include "wrn/core/precision.h"
#include "wrn/data/preprocessing.h"
#include "wrn/data/split_data.h"
#include "wrn/models/registry.h"

namespace wrn::train {

// The pieces a run (or `wrn eval`) needs, built from a config: device, data, normalizer and
// model (on the device, with FlatParameters-ready parameters).
struct RunSetup {
  TrainConfig config;         // with the data's image size and channels resolved (data.image_size, ...)
  torch::Device device{torch::kCPU};
  // In memory: on `device`. val: data.val_fraction of the train split (empty without), the
  // split that chooses best.ckpt when present.
  data::SplitData train, val, test;
  data::Preprocessing preprocessing;  // resolved, with the normalizer's mean and std
  std::string storage;                // how the splits are held, and why (data_setup.h)
  data::Normalizer normalizer;
  models::ModelSpec spec;     // resolved
  models::Classifier model;
  // config.precision resolved for `device` (config.precision is set to its value: never auto).
  ResolvedPrecision precision;
  // channels_last: auto is left for the trainer to measure (train/trainer.cpp); how it chose.
  std::string layout_reason;

  // Loads the data (train only when `load_train`), fits the normalizer (unless
  // `normalizer_state` is given; a streamed train split: on a seeded sample of up to 5,000
  // images), seeds the default generator and builds the model. model.input, when set, must
  // agree with data.image_size and data.channels (and sets them when those are unset).
  // Throws ConfigError / FileError from the layers below.
  // `class_names`: the label order of the test split when the train split is not loaded (a
  // checkpoint's names, see data_setup.h).
  static RunSetup create(const TrainConfig& config, bool load_train,
                         const std::vector<torch::Tensor>* normalizer_state = nullptr,
                         const std::vector<std::string>& class_names = {});
};

// Device from a config string ("cpu", "cuda", "cuda:1"); ConfigError when CUDA is asked
// for but not available.
torch::Device parse_device(const std::string& text);

}  // namespace wrn::train
