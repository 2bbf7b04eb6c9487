#include <gtest/gtest.h>

#include <cmath>

#include "wrn/core/error.h"
#include "wrn/optim/lr_schedule.h"

using wrn::train::LrSchedule;
using wrn::train::ScheduleConfig;
using wrn::train::ScheduleType;
using wrn::train::ScheduleUnit;
using wrn::train::WarmupMode;

TEST(LrSchedule, MultistepByEpochDropsAtTheFirstStepOfTheMilestoneEpoch) {
  ScheduleConfig c;
  c.milestones = {60, 120, 160};
  c.gamma = 0.2;
  LrSchedule s(c, 0.1, 391, 200);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.1);
  EXPECT_DOUBLE_EQ(s.lr(60 * 391 - 1), 0.1);
  EXPECT_NEAR(s.lr(60 * 391), 0.02, 1e-15);
  EXPECT_NEAR(s.lr(120 * 391), 0.004, 1e-15);
  EXPECT_NEAR(s.lr(199 * 391), 0.0008, 1e-15);
  EXPECT_EQ(s.phase(0), 0);
  EXPECT_EQ(s.phase(60 * 391), 1);
  EXPECT_EQ(s.phase(160 * 391 + 5), 3);
}

TEST(LrSchedule, MultistepByIterationWithResNetWarmup) {
  ScheduleConfig c;
  c.unit = ScheduleUnit::Iteration;
  c.milestones = {32000, 48000};
  c.warmup.iterations = 400;
  c.warmup.lr = 0.01;
  LrSchedule s(c, 0.1, 391, 164);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.01);
  EXPECT_DOUBLE_EQ(s.lr(399), 0.01);
  EXPECT_DOUBLE_EQ(s.lr(400), 0.1);
  EXPECT_DOUBLE_EQ(s.lr(31999), 0.1);
  EXPECT_NEAR(s.lr(32000), 0.01, 1e-15);
  EXPECT_NEAR(s.lr(48000), 0.001, 1e-15);
}

TEST(LrSchedule, LinearWarmupRampsToTheMainSchedule) {
  ScheduleConfig c;
  c.type = ScheduleType::Cosine;
  c.warmup.iterations = 10;
  c.warmup.lr = 0.0;
  c.warmup.mode = WarmupMode::Linear;
  LrSchedule s(c, 1.0, 10, 10);
  const double at10 = 0.5 * (1 + std::cos(M_PI * 10 / 100));
  EXPECT_DOUBLE_EQ(s.lr(0), 0.0);
  EXPECT_NEAR(s.lr(5), 0.5 * at10, 1e-12);
  EXPECT_NEAR(s.lr(10), at10, 1e-12);
}

TEST(LrSchedule, CosineGoesFromBaseToMin) {
  ScheduleConfig c;
  c.type = ScheduleType::Cosine;
  c.min_lr = 0.001;
  LrSchedule s(c, 0.1, 100, 10);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.1);
  EXPECT_NEAR(s.lr(500), (0.1 + 0.001) / 2, 1e-12);
  EXPECT_NEAR(s.lr(1000), 0.001, 1e-12);
  EXPECT_GT(s.lr(250), s.lr(251));
}

TEST(LrSchedule, FractionalEpochMilestones) {
  ScheduleConfig c;
  c.milestones = {0.5};
  LrSchedule s(c, 1.0, 10, 2);
  EXPECT_DOUBLE_EQ(s.lr(4), 1.0);
  EXPECT_NEAR(s.lr(5), 0.1, 1e-15);
}

TEST(ScheduleConfig, ValidationRejectsBadInput) {
  // Names are parsed once, into the enums; a bad one names the key, the list and a suggestion.
  try {
    wrn::parse_enum(wrn::train::kScheduleTypes, "cosin", "schedule.type");
    FAIL();
  } catch (const wrn::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'cosine'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'schedule.type'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("multistep, cosine, constant"), std::string::npos) << e.what();
  }
  EXPECT_EQ(wrn::parse_enum(wrn::train::kScheduleUnits, "iteration", "schedule.unit"), ScheduleUnit::Iteration);
  EXPECT_STREQ(wrn::train::to_string(WarmupMode::Linear), "linear");
  ScheduleConfig c;
  c.warmup.iterations = 10;  // a constant warmup needs a positive lr
  EXPECT_THROW(c.validate(), wrn::ConfigError);
  c.warmup.mode = WarmupMode::Linear;
  EXPECT_NO_THROW(c.validate());
  c = ScheduleConfig{};
  c.milestones = {10, 5};
  EXPECT_THROW(c.validate(), wrn::ConfigError);
  c = ScheduleConfig{};
  c.gamma = 0;
  EXPECT_THROW(c.validate(), wrn::ConfigError);
}

// UBSan: a milestone beyond int64 steps made llround overflow (undefined); inf was accepted.
TEST(LrSchedule, HugeMilestonesAreNeverReachedAndInfiniteOnesAreRejected) {
  ScheduleConfig c;
  c.milestones = {2, 1e300};
  c.gamma = 0.1;
  LrSchedule s(c, 0.1, 391, 10);
  EXPECT_EQ(s.phase(2 * 391), 1);
  EXPECT_EQ(s.phase(INT64_MAX / 4), 1);
  EXPECT_NEAR(s.lr(9 * 391), 0.01, 1e-15);
  c.unit = ScheduleUnit::Iteration;
  LrSchedule by_iteration(c, 0.1, 391, 10);
  EXPECT_EQ(by_iteration.phase(9 * 391), 1);
  for (double bad : {INFINITY, NAN}) {
    ScheduleConfig d;
    d.milestones = {bad};
    try {
      d.validate();
      ADD_FAILURE() << bad;
    } catch (const wrn::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("schedule.milestones must be finite"), std::string::npos) << e.what();
    }
  }
  // steps x epochs beyond int64: an error, not a wrapped (negative) total.
  EXPECT_THROW(LrSchedule(ScheduleConfig{}, 0.1, INT64_MAX / 2, 3), wrn::ConfigError);
}
