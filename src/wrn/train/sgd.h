// SGD with momentum, Nesterov, dampening and weight decay, over ONE flat buffer.
//
// FlatParameters re-homes every parameter of a module into a single contiguous tensor
// (and every gradient into a second one): each parameter becomes a view of its slice, and
// its .grad is pre-set to a view of the gradient buffer, so autograd accumulates into it in
// place. The optimizer step is then a handful of large kernels (or one fused pass on the
// CPU) instead of several small kernels per parameter, and zeroing the gradients is one
// memset.
//
// Sgd's arithmetic is torch.optim.SGD's, in its order:
//   g = grad + weight_decay * p                  (when weight_decay != 0)
//   buf = g                                      (first step after construction / reset)
//   buf = momentum * buf + (1 - dampening) * g   (later steps)
//   g = nesterov ? g + momentum * buf : buf      (when momentum != 0)
//   p = p - lr * g
// reset_momentum() forgets the buffer, as the original WRN Torch code does at each LR drop.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "wrn/io/state_dict.h"

namespace wrn::train {

// What the engine needs of an optimizer over the flat buffers (Sgd here, AdamW in adamw.h).
class FlatOptimizer {
 public:
  virtual ~FlatOptimizer() = default;
  // One update with learning rate `lr` (the schedule's value for this step).
  virtual void step(double lr) = 0;
  // Forgets the moment estimates (the WRN Torch code's restart at each LR drop).
  virtual void reset_momentum() = 0;
  // Checkpoint state, and its restore (wrn::FileError for a missing or mis-sized tensor).
  virtual io::StateDict state() const = 0;
  virtual void load_state(const io::StateDict& state) = 0;
  // Weight decay only where `mask` (float [numel], 0 or 1) is 1, e.g. not on BatchNorm and
  // biases (decay_mask_without_vectors); undefined: everywhere.
  void set_decay_mask(torch::Tensor mask) { decay_mask_ = std::move(mask); }

 protected:
  torch::Tensor decay_mask_;
};

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

struct SgdOptions {
  double lr = 0.1;
  double momentum = 0.9;
  double dampening = 0.0;
  double weight_decay = 5e-4;
  bool nesterov = true;
  // Validates the ranges (lr > 0, momentum in [0,1), dampening in [0,1], weight_decay >= 0,
  // nesterov needs momentum > 0 and dampening 0, as torch.optim.SGD requires);
  // throws wrn::ConfigError naming `what`.field.
  void validate(const std::string& what = "optimizer") const;
};

// How the update is executed. Fused: one pass over the buffers with at::parallel_for
// (CPU float32 only; otherwise falls back to Tensor). Tensor: 4-6 whole-buffer tensor ops
// (any device).
enum class SgdKernel { Auto, Fused, Tensor };

// The optimizer. Holds the momentum buffer (same size as the flat buffer).
// With a decay mask, g = grad + weight_decay * mask * p (torch.optim.SGD with two parameter
// groups, one at weight_decay 0), then the same update without decay.
class Sgd : public FlatOptimizer {
 public:
  Sgd(torch::Tensor params, torch::Tensor grads, SgdOptions options, SgdKernel kernel = SgdKernel::Auto);
  explicit Sgd(const FlatParameters& flat, SgdOptions options, SgdKernel kernel = SgdKernel::Auto)
      : Sgd(flat.params(), flat.grads(), options, kernel) {}

  // One update with learning rate `lr` (the schedule's value for this step).
  void step(double lr) override;
  // Forgets the momentum buffer: the next step starts it again from the gradient.
  void reset_momentum() override { has_buffer_ = false; }

  const SgdOptions& options() const { return options_; }
  int64_t steps() const { return steps_; }
  bool has_buffer() const { return has_buffer_; }
  const torch::Tensor& momentum_buffer() const { return buffer_; }

  // Checkpoint state: {"momentum_buffer": tensor, "has_buffer": 0/1, "steps": n} as tensors.
  io::StateDict state() const override;
  // Restores state(); throws wrn::FileError when a tensor is missing or of the wrong size.
  void load_state(const io::StateDict& state) override;

 private:
  void step_tensor(double lr, double weight_decay);
  void step_fused(double lr, double weight_decay);

  torch::Tensor params_, grads_, buffer_;
  SgdOptions options_;
  bool fused_ = false;
  bool has_buffer_ = false;
  int64_t steps_ = 0;
};

// torch.nn.utils.clip_grad_norm_ on a flat gradient buffer: g *= min(1, max_norm / (||g||_2 +
// 1e-6)), computed on the buffer's device without a host synchronization.
void clip_grad_norm(const torch::Tensor& grads, double max_norm);

// The textbook loop, one small kernel sequence per parameter (torch::optim::SGD's way);
// kept for the speed comparison and as a second reference in tests.
void naive_sgd_step(const std::vector<torch::Tensor>& params, std::vector<torch::Tensor>& buffers,
                    bool& has_buffers, const SgdOptions& options, double lr);

}  // namespace wrn::train
