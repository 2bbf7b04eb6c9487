// Test-time flip averaging, the one definition `wrn eval --tta` (eval/evaluate.cpp) and
// `wrn predict --tta` (infer/predictor.cpp) share.
#pragma once

#include <torch/types.h>

#include <cmath>

namespace wrn::models {

// The log of the mean class probability of a batch and its horizontal mirror, from the logits
// of each ([N, classes], float): log((softmax(logits) + softmax(mirrored_logits)) / 2).
inline torch::Tensor flip_averaged_log_probabilities(const torch::Tensor& logits, const torch::Tensor& mirrored_logits) {
  return torch::logaddexp(torch::log_softmax(logits, 1), torch::log_softmax(mirrored_logits, 1)) - std::log(2.0);
}

}  // namespace wrn::models
