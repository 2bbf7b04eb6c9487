#include "wrn/optim/weight_average.h"

#include <algorithm>

#include "wrn/core/error.h"

namespace wrn::train {

WeightAverage::WeightAverage(torch::Tensor params, std::vector<torch::Tensor> buffers, EmaConfig config)
    : params_(std::move(params)), buffers_(std::move(buffers)), config_(config) {
  WRN_CHECK(config_.decay > 0 && config_.decay < 1, "ema.decay must be in (0, 1), got {}", config_.decay);
  torch::NoGradGuard no_grad;
  avg_params_ = params_.detach().clone();
  for (const auto& b : buffers_) avg_buffers_.push_back(b.detach().clone());
}

double WeightAverage::decay_at(int64_t updates) const {
  if (!config_.warmup) return config_.decay;
  const double t = static_cast<double>(updates);
  return std::min(config_.decay, (1 + t) / (10 + t));
}

void WeightAverage::update() {
  if (!enabled()) return;
  torch::NoGradGuard no_grad;
  const double d = decay_at(updates_);
  avg_params_.lerp_(params_, 1 - d);
  for (size_t i = 0; i < buffers_.size(); ++i) {
    if (at::isFloatingType(buffers_[i].scalar_type())) {
      avg_buffers_[i].lerp_(buffers_[i], 1 - d);
    } else {
      avg_buffers_[i].copy_(buffers_[i]);
    }
  }
  ++updates_;
}

void WeightAverage::swap() {
  if (!enabled()) return;
  torch::NoGradGuard no_grad;
  auto exchange = [](torch::Tensor& a, torch::Tensor& b) {
    auto tmp = a.clone();
    a.copy_(b);
    b.copy_(tmp);
  };
  exchange(params_, avg_params_);
  for (size_t i = 0; i < buffers_.size(); ++i) exchange(buffers_[i], avg_buffers_[i]);
}

}  // namespace wrn::train
