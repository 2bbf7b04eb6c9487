// AdamW (Loshchilov & Hutter 2019) over the flat parameter buffer, with the arithmetic of
// torch::optim::AdamW / torch.optim.AdamW (decoupled weight decay), in their order:
//   p = p * (1 - lr * weight_decay)                 (times the decay mask when set)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// reset_momentum() restarts both moments and the bias correction.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

#include "wrn/optim/sgd.h"

namespace wrn::train {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.05;
  // beta1, beta2 in [0, 1), eps > 0, weight_decay >= 0; wrn::ConfigError naming `what`.field.
  void validate(const std::string& what = "optimizer") const;
};

class AdamW : public FlatOptimizer {
 public:
  AdamW(torch::Tensor params, torch::Tensor grads, AdamWOptions options);
  AdamW(const FlatParameters& flat, AdamWOptions options) : AdamW(flat.params(), flat.grads(), options) {}

  void step(double lr) override;
  void reset_momentum() override { steps_ = 0; }
  // {"exp_avg", "exp_avg_sq", "steps"} (steps since the last reset).
  io::StateDict state() const override;
  void load_state(const io::StateDict& state) override;
  int64_t steps() const { return steps_; }

 private:
  torch::Tensor params_, grads_, exp_avg_, exp_avg_sq_;
  AdamWOptions options_;
  int64_t steps_ = 0;
};

}  // namespace wrn::train
