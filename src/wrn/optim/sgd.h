// SGD with momentum, Nesterov, dampening and weight decay, over ONE flat buffer
// (optim/flat_parameters.h).
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

#include "wrn/optim/flat_parameters.h"
#include "wrn/optim/optimizer.h"

namespace wrn::train {

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

// The textbook loop, one small kernel sequence per parameter (torch::optim::SGD's way);
// kept for the speed comparison and as a second reference in tests.
void naive_sgd_step(const std::vector<torch::Tensor>& params, std::vector<torch::Tensor>& buffers,
                    bool& has_buffers, const SgdOptions& options, double lr);

}  // namespace wrn::train
