// Counting: parameters, multiply-accumulates, and stage output shapes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wrn/models/network.h"

namespace wrn::models {

// Trainable parameters (requires_grad) of a module and its children.
int64_t count_parameters(const torch::nn::Module& module);

struct StageShape {
  std::string name;
  std::vector<int64_t> shape;  // without the batch dimension
};

struct ModelSummary {
  int64_t params = 0;
  int64_t macs = 0;  // multiply-accumulates of conv and linear layers per image, forward
  std::vector<StageShape> stages;
};

// Runs one image of `input`'s shape through the model in eval mode (without autograd) and
// counts conv/linear multiply-accumulates as the operators execute.
ModelSummary summarize(ClassifierImpl& model, const InputShape& input);

}  // namespace wrn::models
