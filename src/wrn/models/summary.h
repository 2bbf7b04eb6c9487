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
// counts conv/linear multiply-accumulates as the operators execute. Checks first that the
// forward fits in memory (check_forward_fits); an operator that fails is a wrn::Error.
ModelSummary summarize(ClassifierImpl& model, const InputShape& input);

// About how many bytes an eval-mode forward of `batch` images of `input` takes at its peak
// (float32), from a forward of a small crop of the input: the largest activation per input
// pixel, scaled to the full size (six such tensors alive at once, a measured bound).
int64_t forward_bytes_estimate(ClassifierImpl& model, const InputShape& input, int64_t batch = 1);

// The memory this process may still take: /proc/meminfo's MemAvailable, less where
// RLIMIT_AS or the cgroup's memory.max is lower. -1 when unknown.
int64_t available_memory_bytes();

// Throws wrn::ConfigError "WHAT CxHxW: a forward of N images needs about X GB, more than the
// Y GB available" when forward_bytes_estimate exceeds available_memory_bytes(): an input far
// too large is refused in one line before it is allocated (it used to run the machine out of
// memory, or crash).
void check_forward_fits(ClassifierImpl& model, const InputShape& input, int64_t batch, const std::string& what);

}  // namespace wrn::models
