// Dynamic loss scaling for fp16 training (torch.cuda.amp.GradScaler's rule and defaults).
//
// fp16 has 5 exponent bits: small gradients flush to zero unless the loss is multiplied by a
// large factor before backward. Each step the master gradients are divided by the factor and
// checked: any inf/NaN means the factor overflowed, so the step is skipped and the factor
// multiplied by backoff_factor; after growth_interval good steps in a row it is multiplied by
// growth_factor. bf16 has float32's exponent range and needs none of this.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

#include "wrn/io/state_dict.h"

namespace wrn::train {

struct LossScalerOptions {
  double init_scale = 65536.0;  // 2^16
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
};

class LossScaler {
 public:
  // Disabled: scale 1, every step taken.
  LossScaler() = default;
  // Requires init_scale > 0, growth_factor > 1, backoff_factor in (0, 1), growth_interval >= 1
  // (throws wrn::ConfigError otherwise).
  explicit LossScaler(LossScalerOptions options);

  bool enabled() const { return enabled_; }
  double scale() const { return scale_; }
  int64_t skipped_steps() const { return skipped_; }
  int64_t good_steps_in_a_row() const { return growth_tracker_; }

  // loss x scale (the loss itself when disabled).
  torch::Tensor scale_loss(const torch::Tensor& loss) const;
  // Divides the float32 `grads` by the scale in place and updates the scale. Returns true when
  // every gradient is finite (take the step), false when the step must be skipped (counted).
  // Disabled: returns true and touches nothing.
  bool unscale_and_update(torch::Tensor& grads);
  // The scale rule alone, for a step whose gradients were (not) finite.
  void update(bool found_non_finite);

  // Checkpoint state {"loss_scale", "loss_scale_growth_tracker", "loss_scale_skipped"}.
  io::StateDict state() const;
  // Restores state(); a missing entry keeps the current value (a run that started in
  // another precision). Throws wrn::FileError naming `what` for a non-finite or non-positive scale.
  void load_state(const io::StateDict& state, const std::string& what);

 private:
  bool enabled_ = false;
  LossScalerOptions options_;
  double scale_ = 1.0;
  int64_t growth_tracker_ = 0;
  int64_t skipped_ = 0;
};

}  // namespace wrn::train
