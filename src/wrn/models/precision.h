// Which parameters of a network run in reduced precision (bf16/fp16) and which stay float32.
//
// The rule (the one PyTorch's autocast and NVIDIA's AMP recipe follow): convolutions and the
// linear classifier compute in the reduced dtype, so their weights and biases are kept in it;
// BatchNorm keeps float32 weights, biases and running statistics (its mean and variance lose
// too much in bf16), and LibTorch's CPU and CUDA batch norms take reduced-precision data with
// float32 parameters (measured on LibTorch 1.13.1: forward and backward, output in the data's dtype).
#pragma once

#include <c10/core/ScalarType.h>
#include <torch/nn/module.h>

#include <vector>

namespace wrn::models {

// The parameters of `module` (recursively, in parameters() order) that compute in reduced
// precision: every parameter not owned by a BatchNorm module.
std::vector<torch::Tensor> reduced_precision_parameters(const torch::nn::Module& module);

// For inference: casts those parameters to `dtype` in place (set_data; BatchNorm untouched).
// A forward then takes input of `dtype` and returns logits of `dtype`. Float: a no-op for a
// float model, and restores float for one cast before.
void cast_for_inference(torch::nn::Module& module, c10::ScalarType dtype);

}  // namespace wrn::models
