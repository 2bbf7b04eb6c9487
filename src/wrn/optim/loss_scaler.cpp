#include "wrn/optim/loss_scaler.h"

#include <cmath>

#include "wrn/core/error.h"

namespace wrn::train {

LossScaler::LossScaler(LossScalerOptions options) : enabled_(true), options_(options), scale_(options.init_scale) {
  WRN_CHECK(options.init_scale > 0 && std::isfinite(options.init_scale), "loss scale: init_scale must be > 0, got {}",
            options.init_scale);
  WRN_CHECK(options.growth_factor > 1 && std::isfinite(options.growth_factor),
            "loss scale: growth_factor must be > 1, got {}", options.growth_factor);
  WRN_CHECK(options.backoff_factor > 0 && options.backoff_factor < 1,
            "loss scale: backoff_factor must be in (0, 1), got {}", options.backoff_factor);
  WRN_CHECK(options.growth_interval >= 1, "loss scale: growth_interval must be >= 1, got {}",
            options.growth_interval);
}

torch::Tensor LossScaler::scale_loss(const torch::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }

bool LossScaler::unscale_and_update(torch::Tensor& grads) {
  if (!enabled_) return true;
  torch::NoGradGuard no_grad;
  grads.mul_(1.0 / scale_);
  const bool finite = grads.isfinite().all().item<bool>();
  update(!finite);
  return finite;
}

void LossScaler::update(bool found_non_finite) {
  if (!enabled_) return;
  if (found_non_finite) {
    scale_ *= options_.backoff_factor;
    growth_tracker_ = 0;
    ++skipped_;
    return;
  }
  if (++growth_tracker_ == options_.growth_interval) {
    const double grown = scale_ * options_.growth_factor;
    if (std::isfinite(grown)) scale_ = grown;  // as GradScaler: never grow to inf
    growth_tracker_ = 0;
  }
}

io::StateDict LossScaler::state() const {
  return {{"loss_scale", torch::tensor(scale_, torch::kDouble)},
          {"loss_scale_growth_tracker", torch::tensor(growth_tracker_, torch::kLong)},
          {"loss_scale_skipped", torch::tensor(skipped_, torch::kLong)}};
}

void LossScaler::load_state(const io::StateDict& state, const std::string& what) {
  for (const auto& t : state) {
    if (t.name == "loss_scale") {
      const double s = t.value.item<double>();
      WRN_CHECK_FILE(s > 0 && std::isfinite(s), "{}: loss_scale must be a positive number, got {}", what, s);
      scale_ = s;
    } else if (t.name == "loss_scale_growth_tracker") {
      growth_tracker_ = t.value.item<int64_t>();
      WRN_CHECK_FILE(growth_tracker_ >= 0, "{}: loss_scale_growth_tracker must be >= 0", what);
    } else if (t.name == "loss_scale_skipped") {
      skipped_ = t.value.item<int64_t>();
    }
  }
}

}  // namespace wrn::train
