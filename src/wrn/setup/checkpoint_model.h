// A trained model rebuilt from a wrn checkpoint, for whatever uses one (predict, export, eval,
// info, a C++ program): the network from the run's config with the stored weights, its input
// shape and the training normalization.
#pragma once

#include <string>
#include <vector>

#include "wrn/data/augment.h"
#include "wrn/data/preprocessing.h"
#include "wrn/models/registry.h"
#include "wrn/config/config.h"

namespace wrn::train {

struct CheckpointModel {
  TrainConfig config;
  models::ModelSpec spec;  // resolved: name, settings, classes and input of the stored weights
  models::Classifier model;
  data::Normalizer normalizer;  // unfitted when the checkpoint holds none
  // How images become this model's input (channels and size = spec.input): the checkpoint's
  // stored spec, else (runs from before it was stored) the config's transforms at spec.input,
  // with the eval transform of those runs' predict (resize_center_crop 256/224 for inputs of
  // 128 pixels and more, resize below).
  data::Preprocessing preprocessing;
  std::vector<std::string> class_names;  // from the checkpoint, else the built-in data set's; may be empty
  std::string meta_json;                 // the checkpoint's bookkeeping (epochs done, best error, ...)
};

// The model name and settings come from the checkpoint's config; classes and input channels
// from the stored weights; height x width from `input_override` (CxHxW, named "--input" in
// messages), the config's model.input, the built-in data set's image size, or the model's
// default; an --input override also resizes preprocessing. Throws FileError naming `path` for a missing, corrupt or mismatched checkpoint.
CheckpointModel load_checkpoint_model(const std::string& path, const std::string& input_override = "");

// The class names a checkpoint's bookkeeping JSON holds (training and import store them, in
// label order); empty when it holds none or is not JSON. The one reader of that field.
std::vector<std::string> stored_class_names(const std::string& meta_json);

}  // namespace wrn::train
