// Counting: parameters, multiply-accumulates, and stage output shapes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wrn/models/network.h"
#include "wrn/models/registry.h"

namespace wrn::models {

// Trainable parameters (requires_grad) of a module and its children.
int64_t count_parameters(const torch::nn::Module& module);

// The trainable parameters of the model `spec` names, counted on a model built with every
// tensor operation dispatched to LibTorch's Meta backend: shapes only, no memory, no random
// initialization. `wrn models` builds 36 networks (~0.93e9 parameters): 10.2 s wall and 670 MB
// with real weights, 0.84 s and 200 MB this way, most of it loading LibTorch (2 cores,
// 2026-12-01). Falls back to a real build should an operation lack a Meta kernel. Throws what
// build_model throws.
int64_t count_parameters(const ModelSpec& spec);

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
