// A state_dict written elsewhere (torchvision's ImageNet ResNets, a PyTorch WRN with the same
// names, or a file wrn exported) turned into a wrn checkpoint that predict, eval, export and
// train --init-from use: what `wrn import` does, as a library call.
#pragma once

#include <string>
#include <vector>

#include "wrn/io/checkpoint.h"
#include "wrn/models/registry.h"

namespace wrn::train {

struct ImportOptions {
  std::string from;  // the weights file: .pt, .safetensors or a wrn checkpoint
  // The model; an empty name, classes 0 or input channels 0 are completed from the file
  // (its wrn.* metadata, the classifier's and the first conv's shapes).
  models::ModelSpec model;
  bool input_given = false;     // model.input was given by the user (else the file's wrn.input wins)
  bool settings_given = false;  // model.settings were given (else the file's wrn.settings)
  std::string preset;           // the recipe to record (empty: the defaults)
  // Per-channel normalization on the 0..255 scale. Empty: the checkpoint's own, else the
  // file's wrn.mean / wrn.std, else its wrn.preprocessing's, else the preset's, else
  // ImageNet's for ImageNet-sized 3-channel models; any other case is a ConfigError asking
  // for them.
  std::vector<double> mean, std;
  // Stored for predict (checkpoint meta "class_names"); empty: the file's wrn.class_names
  // (unless its classifier is re-initialized), else none.
  std::vector<std::string> class_names;
  // A file's wrn.preprocessing (setup/export_metadata.h) goes into the checkpoint meta
  // "preprocessing" (its to_json(), with the normalization chosen above); its CxHxW is the
  // input when neither model.input nor wrn.input says otherwise.
};

struct ImportResult {
  io::Checkpoint checkpoint;
  models::ModelSpec spec;       // resolved
  std::string format;           // "checkpoint" | "pt" | "safetensors"
  size_t tensors = 0;           // in the file
  bool new_classifier = false;  // the file's classifier had another shape: re-initialized
};

// torchvision's ImageNet normalization on the 0..255 scale.
const std::vector<double>& imagenet_mean();
const std::vector<double>& imagenet_std();

// Reads `options.from`, builds the model and loads every tensor (a classifier of another
// shape is re-initialized: fine-tuning). Throws FileError naming the file (missing, corrupt,
// mismatched tensors, bad metadata: one line naming the file and the key) and ConfigError
// naming the option.
ImportResult import_weights(const ImportOptions& options);

}  // namespace wrn::train
