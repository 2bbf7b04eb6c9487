#include "wrn/optim/adamw.h"

#include <cmath>

#include "wrn/core/error.h"

namespace wrn::train {

void AdamWOptions::validate(const std::string& what) const {
  WRN_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "{}.betas must both be in [0, 1), got [{}, {}]", what,
            beta1, beta2);
  WRN_CHECK(eps > 0 && std::isfinite(eps), "{}.eps must be a positive number, got {}", what, eps);
  WRN_CHECK(weight_decay >= 0 && std::isfinite(weight_decay), "{}.weight_decay must be >= 0, got {}", what,
            weight_decay);
}

AdamW::AdamW(torch::Tensor params, torch::Tensor grads, AdamWOptions options)
    : params_(std::move(params)), grads_(std::move(grads)), options_(options) {
  WRN_CHECK(params_.defined() && grads_.defined() && params_.dim() == 1 && params_.is_contiguous() &&
                grads_.sizes() == params_.sizes(),
            "AdamW needs contiguous 1-D parameter and gradient buffers of one size");
  options_.validate();
  exp_avg_ = torch::zeros_like(params_);
  exp_avg_sq_ = torch::zeros_like(params_);
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  const auto& o = options_;
  if (o.weight_decay != 0) {
    if (decay_mask_.defined()) {
      params_.addcmul_(params_, decay_mask_, -lr * o.weight_decay);  // p - lr wd mask p
    } else {
      params_.mul_(1 - lr * o.weight_decay);
    }
  }
  if (steps_ == 0) {  // a (re)start: fresh moments
    exp_avg_.zero_();
    exp_avg_sq_.zero_();
  }
  ++steps_;
  exp_avg_.mul_(o.beta1).add_(grads_, 1 - o.beta1);
  exp_avg_sq_.mul_(o.beta2).addcmul_(grads_, grads_, 1 - o.beta2);
  const double bias_correction1 = 1 - std::pow(o.beta1, static_cast<double>(steps_));
  const double bias_correction2 = 1 - std::pow(o.beta2, static_cast<double>(steps_));
  auto denom = (exp_avg_sq_.sqrt() / std::sqrt(bias_correction2)).add_(o.eps);
  params_.addcdiv_(exp_avg_, denom, -lr / bias_correction1);
}

io::StateDict AdamW::state() const {
  return {{"exp_avg", exp_avg_.detach().cpu().clone()},
          {"exp_avg_sq", exp_avg_sq_.detach().cpu().clone()},
          {"steps", torch::tensor(steps_)}};
}

void AdamW::load_state(const io::StateDict& state) {
  auto find = [&](const std::string& key) { return io::find_tensor(state, key, "optimizer state"); };
  auto m = find("exp_avg"), v = find("exp_avg_sq");
  WRN_CHECK_FILE(m.numel() == exp_avg_.numel() && v.numel() == exp_avg_.numel(),
                 "optimizer state has AdamW moments of {} values, the model has {}", m.numel(), exp_avg_.numel());
  torch::NoGradGuard no_grad;
  exp_avg_.copy_(m.reshape({-1}));
  exp_avg_sq_.copy_(v.reshape({-1}));
  steps_ = find("steps").item<int64_t>();
  WRN_CHECK_FILE(steps_ >= 0, "optimizer state has a negative AdamW step count {}", steps_);
}

}  // namespace wrn::train
