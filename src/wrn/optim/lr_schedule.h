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

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "wrn/core/enum_names.h"

namespace wrn::train {

enum class ScheduleType { Multistep, Cosine, Constant };
enum class ScheduleUnit { Epoch, Iteration };  // of the milestones
enum class WarmupMode { Constant, Linear };

inline constexpr std::array<EnumName<ScheduleType>, 3> kScheduleTypes{
    {{ScheduleType::Multistep, "multistep"}, {ScheduleType::Cosine, "cosine"}, {ScheduleType::Constant, "constant"}}};
inline constexpr std::array<EnumName<ScheduleUnit>, 2> kScheduleUnits{
    {{ScheduleUnit::Epoch, "epoch"}, {ScheduleUnit::Iteration, "iteration"}}};
inline constexpr std::array<EnumName<WarmupMode>, 2> kWarmupModes{
    {{WarmupMode::Constant, "constant"}, {WarmupMode::Linear, "linear"}}};

inline const char* to_string(ScheduleType v) { return enum_name(kScheduleTypes, v); }
inline const char* to_string(ScheduleUnit v) { return enum_name(kScheduleUnits, v); }
inline const char* to_string(WarmupMode v) { return enum_name(kWarmupModes, v); }

// Field docs and ranges: the table in config.cpp (docs/config.md).
struct WarmupConfig {
  int64_t iterations = 0;   // 0: no warmup
  double lr = 0.0;          // constant: the lr used; linear: the starting lr
  WarmupMode mode = WarmupMode::Constant;
};

struct ScheduleConfig {
  ScheduleType type = ScheduleType::Multistep;
  ScheduleUnit unit = ScheduleUnit::Epoch;  // unit of the milestones
  std::vector<double> milestones;  // increasing
  double gamma = 0.1;
  double min_lr = 0.0;             // cosine floor
  WarmupConfig warmup;

  // Throws wrn::ConfigError naming `what`.field for decreasing or negative milestones,
  // gamma <= 0, min_lr < 0, a negative warmup, or a constant warmup without a positive lr.
  // (Types, units and modes are enums: their names are checked where text is parsed.)
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
