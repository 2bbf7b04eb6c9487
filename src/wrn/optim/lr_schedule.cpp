#include "wrn/optim/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "wrn/core/error.h"
#include "wrn/core/text.h"

namespace wrn::train {

void ScheduleConfig::validate(const std::string& what) const {
  for (size_t i = 0; i < milestones.size(); ++i) {
    WRN_CHECK(std::isfinite(milestones[i]) && milestones[i] >= 0, "{}.milestones must be finite and >= 0, got {}",
              what, milestones[i]);
    WRN_CHECK(i == 0 || milestones[i] > milestones[i - 1], "{}.milestones must be increasing, got {} after {}",
              what, milestones[i], milestones[i - 1]);
  }
  WRN_CHECK(std::isfinite(gamma) && gamma > 0, "{}.gamma must be a finite positive number, got {}", what, gamma);
  WRN_CHECK(std::isfinite(min_lr) && min_lr >= 0, "{}.min_lr must be a finite number >= 0, got {}", what, min_lr);
  WRN_CHECK(std::isfinite(warmup.lr), "{}.warmup.lr must be finite, got {}", what, warmup.lr);
  WRN_CHECK(warmup.iterations >= 0, "{}.warmup.iterations must be >= 0, got {}", what, warmup.iterations);
  WRN_CHECK(warmup.lr >= 0, "{}.warmup.lr must be >= 0, got {}", what, warmup.lr);
  WRN_CHECK(warmup.iterations == 0 || warmup.mode == WarmupMode::Linear || warmup.lr > 0,
            "{}.warmup.lr must be positive for a constant warmup", what);
}

LrSchedule::LrSchedule(const ScheduleConfig& config, double base_lr, int64_t steps_per_epoch, int64_t epochs)
    : config_(config), base_lr_(base_lr), steps_per_epoch_(steps_per_epoch), total_steps_(0) {
  config_.validate();
  WRN_CHECK(steps_per_epoch >= 1 && epochs >= 1, "a schedule needs at least one step and one epoch");
  WRN_CHECK(!__builtin_mul_overflow(steps_per_epoch, epochs, &total_steps_),
            "a schedule of {} epochs of {} steps has too many steps", epochs, steps_per_epoch);
  for (double m : config_.milestones) {
    // Epoch milestones may be fractional; rounding keeps an integer epoch exact. A milestone
    // beyond int64 steps (never reached) is clamped first: llround of it is undefined.
    const double steps = config_.unit == ScheduleUnit::Epoch ? m * static_cast<double>(steps_per_epoch) : m;
    milestone_steps_.push_back(steps >= 0x1p62 ? (int64_t{1} << 62) : std::llround(steps));
  }
}

int LrSchedule::phase(int64_t step) const {
  if (config_.type != ScheduleType::Multistep) return 0;
  int n = 0;
  for (int64_t s : milestone_steps_)
    if (step >= s) ++n;
  return n;
}

double LrSchedule::main_lr(int64_t step) const {
  switch (config_.type) {
    case ScheduleType::Multistep: return base_lr_ * std::pow(config_.gamma, phase(step));
    case ScheduleType::Cosine: {
      const double t = std::min<double>(static_cast<double>(step), static_cast<double>(total_steps_));
      return config_.min_lr + (base_lr_ - config_.min_lr) * (1 + std::cos(M_PI * t / total_steps_)) / 2;
    }
    case ScheduleType::Constant: break;
  }
  return base_lr_;
}

double LrSchedule::lr(int64_t step) const {
  const auto& w = config_.warmup;
  if (step < w.iterations) {
    if (w.mode == WarmupMode::Constant) return w.lr;
    const double end = main_lr(w.iterations);
    return w.lr + (end - w.lr) * static_cast<double>(step) / static_cast<double>(w.iterations);
  }
  return main_lr(step);
}

std::string LrSchedule::describe() const {
  std::string s;
  if (config_.type == ScheduleType::Multistep) {
    std::vector<std::string> ms;
    for (double m : config_.milestones) ms.push_back(fmt::format("{}", m));
    s = fmt::format("lr {} x{} at {}s {}", base_lr_, config_.gamma, to_string(config_.unit),
                    ms.empty() ? "-" : join(ms, ","));
  } else if (config_.type == ScheduleType::Cosine) {
    s = fmt::format("lr {} cosine to {} over {} steps", base_lr_, config_.min_lr, total_steps_);
  } else {
    s = fmt::format("lr {} constant", base_lr_);
  }
  if (config_.warmup.iterations > 0)
    s += fmt::format("; {} warmup {} it from {}", to_string(config_.warmup.mode), config_.warmup.iterations,
                     config_.warmup.lr);
  return s;
}

}  // namespace wrn::train
