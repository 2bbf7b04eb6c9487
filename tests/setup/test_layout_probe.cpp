// channels_last: auto (setup/layout_probe.h): both layouts timed, the choice follows the
// timings and the 3% margin, and the run's random streams are as if nothing had run.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "wrn/core/error.h"
#include "wrn/setup/layout_probe.h"

using namespace wrn;

namespace {

models::ModelSpec small_spec() {
  models::ModelSpec spec;
  spec.name = "wrn-10-1";
  spec.classes = 10;
  spec.input = {1, 16, 16};
  return models::resolve_spec(spec);
}

}  // namespace

TEST(LayoutProbe, TimesBothLayoutsAndChoosesByTheMedians) {
  const auto p = train::probe_layout(small_spec(), 8, torch::kFloat, torch::Device(torch::kCPU), 2);
  EXPECT_GT(p.nchw_seconds, 0);
  EXPECT_GT(p.channels_last_seconds, 0);
  EXPECT_EQ(p.channels_last, p.channels_last_seconds < 0.97 * p.nchw_seconds);
  EXPECT_EQ(p.reason.rfind("auto: a training step took ", 0), 0u) << p.reason;
  EXPECT_NE(p.reason.find(p.channels_last ? "in NCHW" : "in channels_last"), std::string::npos) << p.reason;
}

TEST(LayoutProbe, LeavesTheDefaultGeneratorAsItWas) {
  torch::manual_seed(42);
  const auto expected = torch::rand({4});
  torch::manual_seed(42);
  (void)train::probe_layout(small_spec(), 4, torch::kBFloat16, torch::Device(torch::kCPU), 1);
  EXPECT_TRUE(torch::equal(torch::rand({4}), expected)) << "the probe moved the run's random stream";
}

TEST(LayoutProbe, RejectsABatchBatchNormCannotTrainOn) {
  EXPECT_THROW(train::probe_layout(small_spec(), 1, torch::kFloat, torch::Device(torch::kCPU)), Error);
}
