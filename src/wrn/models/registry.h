// Name -> network builder, used by every command.
//
// Names: the torchvision ImageNet models (resnet18 ... wide_resnet101_2), the CIFAR ResNets
// (resnet20 ... resnet1202), the pre-activation ResNets (preact_resnet18/110/164/1001 and
// the ImageNet preact_resnet152/200) and any Wide ResNet written `wrn-D-K` (wrn-28-10).
// Settings (`--set key=value`) adjust a family's options, e.g. dropout=0.3,
// block=3,1,3, shortcut=A, zero_init_residual=true; unknown names and keys are rejected
// with a did-you-mean suggestion.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "wrn/models/network.h"

namespace wrn::models {

struct ModelSpec {
  std::string name;                 // "wrn-28-10", "resnet50", ...
  int64_t classes = 0;              // 0: the model's default
  InputShape input{0, 0, 0};        // channels 0: the model's default
  std::vector<std::pair<std::string, std::string>> settings;  // applied in order

  // Parses "key=value"; throws ConfigError naming the text otherwise.
  void add_setting(const std::string& key_equals_value);
};

struct ModelInfo {
  std::string name;
  std::string family;
  std::string description;
  int64_t default_classes = 10;
  InputShape default_input;
};

// Every named model, in the order `wrn models` prints them (WRN entries: the paper's table).
std::vector<ModelInfo> list_models();

// The model's defaults with the spec's overrides resolved (classes, input).
ModelSpec resolve_spec(const ModelSpec& spec);

// Builds the network; throws wrn::ConfigError for an unknown name, key or bad value.
Classifier build_model(const ModelSpec& spec);

}  // namespace wrn::models
