// The flat parameter buffer every optimizer works on.
//
// FlatParameters re-homes every parameter of a module into a single contiguous tensor
// (and every gradient into a second one): each parameter becomes a view of its slice, and
// its .grad is pre-set to a view of the gradient buffer, so autograd accumulates into it in
// place. The optimizer step is then a handful of large kernels (or one fused pass on the
// CPU) instead of several small kernels per parameter, and zeroing the gradients is one
// memset.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace wrn::train {

// The parameters of a module, moved into one contiguous buffer.
// 4-D parameters already in channels-last layout keep that layout (their views are strided).
// Requires: every parameter (requires_grad) is floating point, of one dtype and on one
// device (throws wrn::ConfigError otherwise). Call after moving the module to its device
// and before training; a later Module::to() would break the aliasing (rebuild then).
// Guarantees: parameter values are unchanged; parameters() returns the module's tensors,
// which alias params(); their grads alias grads().
class FlatParameters {
 public:
  FlatParameters() = default;
  explicit FlatParameters(torch::nn::Module& module);

  const torch::Tensor& params() const { return params_; }
  const torch::Tensor& grads() const { return grads_; }
  const std::vector<torch::Tensor>& parameters() const { return parameters_; }
  int64_t numel() const { return params_.defined() ? params_.numel() : 0; }
  // Zeroes all gradients in one kernel (keeps the aliasing; never sets them to None).
  void zero_grad();
  // True when every parameter still aliases the flat buffers (for tests and sanity checks).
  bool aliased() const;
  // 1 for the elements of parameters with 2 or more dimensions (convolution and linear
  // weights), 0 for vectors (BatchNorm weights and biases, all biases): the usual
  // "no weight decay on norms and biases" parameter group, as a mask over params().
  torch::Tensor decay_mask_without_vectors() const;

 private:
  torch::Tensor params_, grads_;
  std::vector<torch::Tensor> parameters_;
};

// torch.nn.utils.clip_grad_norm_ on a flat gradient buffer: g *= min(1, max_norm / (||g||_2 +
// 1e-6)), computed on the buffer's device without a host synchronization.
void clip_grad_norm(const torch::Tensor& grads, double max_norm);

}  // namespace wrn::train
