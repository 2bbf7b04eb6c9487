// Learning-rate schedules, evaluated per iteration (step), composed of an optional warmup
// and a main schedule.
//
//   multistep: base_lr * gamma^(number of milestones passed); milestones in epochs or in
//              iterations (an epoch milestone e takes effect at iteration e * steps_per_epoch).
//   cosine:    min_lr + (base_lr - min_lr) * (1 + cos(pi * t / T)) / 2, t the iteration,
//              T the total iterations (epochs * steps_per_epoch).
//   constant:  base_lr.
// Warmup (first warmup.iterations steps) replaces the main value with either a constant
// warmup.lr (ResNet-110's 0.01 for ~400 iterations) or a linear ramp from warmup.lr to the
// main schedule's value at the end of the warmup.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wrn::train {

struct WarmupConfig {
  int64_t iterations = 0;   // 0: no warmup
  double lr = 0.0;          // constant: the lr used; linear: the starting lr
  std::string mode = "constant";  // "constant" | "linear"
};

struct ScheduleConfig {
  std::string type = "multistep";  // "multistep" | "cosine" | "constant"
  std::string unit = "epoch";      // unit of the milestones: "epoch" | "iteration"
  std::vector<double> milestones;  // increasing
  double gamma = 0.1;
  double min_lr = 0.0;             // cosine floor
  WarmupConfig warmup;

  // Throws wrn::ConfigError naming `what`.field for an unknown type/unit/mode, decreasing or
  // negative milestones, gamma <= 0, negative warmup.
  void validate(const std::string& what = "schedule") const;
};

// A schedule bound to a run's length. lr(step) is a pure function of the step (so resuming
// needs only the step); phase(step) counts the multistep drops passed (used to reset
// momentum at each drop).
class LrSchedule {
 public:
  LrSchedule(const ScheduleConfig& config, double base_lr, int64_t steps_per_epoch, int64_t epochs);

  double lr(int64_t step) const;
  int phase(int64_t step) const;
  int64_t total_steps() const { return total_steps_; }
  // Human-readable one-liner, e.g. "multistep x0.2 at epochs 60,120,160; warmup 400 it at 0.01".
  std::string describe() const;

 private:
  double main_lr(int64_t step) const;

  ScheduleConfig config_;
  double base_lr_;
  int64_t steps_per_epoch_, total_steps_;
  std::vector<int64_t> milestone_steps_;
};

}  // namespace wrn::train
