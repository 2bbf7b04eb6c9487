// Mixed precision: how --precision resolves on this machine, bf16 training over the float32
// flat master weights (MixedPrecisionWeights), and the fp16 loss scaler's rule with injected
// inf/NaN gradients. Runs on CPUs with and without bf16 hardware (software bf16 then).
#include <gtest/gtest.h>
#include <torch/nn/functional/loss.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <limits>

#include "wrn/core/cpu_features.h"
#include "wrn/core/error.h"
#include "wrn/core/precision.h"
#include "wrn/models/precision.h"
#include "wrn/models/registry.h"
#include "wrn/optim/loss_scaler.h"
#include "wrn/optim/mixed_precision.h"
#include "wrn/optim/sgd.h"

namespace {

using wrn::Precision;
using wrn::train::FlatParameters;
using wrn::train::LossScaler;
using wrn::train::LossScalerOptions;
using wrn::train::MixedPrecisionWeights;

const torch::Device kCpu(torch::kCPU);

TEST(Precision, ParsesItsNamesAndRejectsOthersNamingTheOption) {
  EXPECT_EQ(wrn::parse_precision("fp32"), Precision::Fp32);
  EXPECT_EQ(wrn::parse_precision("bf16"), Precision::Bf16);
  EXPECT_EQ(wrn::parse_precision("fp16"), Precision::Fp16);
  EXPECT_EQ(wrn::parse_precision("auto"), Precision::Auto);
  try {
    wrn::parse_precision("bf61", "--precision");
    FAIL() << "no error";
  } catch (const wrn::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--precision 'bf61'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("did you mean 'bf16'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(wrn::compute_dtype(Precision::Bf16), torch::kBFloat16);
  EXPECT_EQ(wrn::compute_dtype(Precision::Fp32), torch::kFloat);
}

TEST(Precision, AutoOnTheCpuFollowsItsBf16Hardware) {
  const auto& f = wrn::cpu_features();
  const bool hw = f.amx_bf16 || f.avx512_bf16;
  EXPECT_EQ(wrn::cpu_has_bf16_hardware(), hw);
  auto r = wrn::resolve_precision(Precision::Auto, kCpu);
  EXPECT_EQ(r.value, hw ? Precision::Bf16 : Precision::Fp32);
  EXPECT_NE(r.reason.find("auto: the CPU has"), std::string::npos) << r.reason;
  EXPECT_TRUE(r.warning.empty());
  // Forcing bf16 always runs; without the hardware it says that it is slow.
  auto forced = wrn::resolve_precision(Precision::Bf16, kCpu);
  EXPECT_EQ(forced.value, Precision::Bf16);
  EXPECT_EQ(forced.warning.empty(), hw) << forced.warning;
  EXPECT_EQ(wrn::resolve_precision(Precision::Fp32, kCpu).value, Precision::Fp32);
}

TEST(Precision, Fp16OnTheCpuIsAOneLineError) {
  try {
    wrn::resolve_precision(Precision::Fp16, kCpu, "--precision");
    FAIL() << "no error";
  } catch (const wrn::ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("--precision fp16 needs a CUDA device"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

wrn::models::Classifier small_model(uint64_t seed = 3) {
  torch::manual_seed(seed);
  wrn::models::ModelSpec spec;
  spec.name = "wrn-10-1";
  spec.input = {1, 16, 16};
  return wrn::models::build_model(spec);
}

TEST(ReducedPrecisionParameters, AreEverythingButBatchNorm) {
  auto model = small_model();
  auto reduced = wrn::models::reduced_precision_parameters(*model);
  int64_t expected = 0;
  for (const auto& m : model->modules()) {
    if (auto* conv = m->as<torch::nn::Conv2dImpl>()) expected += conv->bias.defined() ? 2 : 1;
    if (auto* fc = m->as<torch::nn::LinearImpl>()) expected += fc->bias.defined() ? 2 : 1;
  }
  EXPECT_EQ(static_cast<int64_t>(reduced.size()), expected);
  for (const auto& p : reduced) EXPECT_GE(p.dim(), 1);
}

// One SGD-free training step's master gradients: fp32 and through the bf16 compute copy.
struct Step {
  torch::Tensor grads, loss;
};

// `to_master`: how the compute gradients reach the master (default: gradients_to_master()).
Step grad_step(wrn::models::Classifier& model, FlatParameters& flat, MixedPrecisionWeights& mixed,
               const torch::Tensor& x, const torch::Tensor& y, const std::function<void()>& to_master = {}) {
  flat.zero_grad();
  mixed.zero_grad();
  auto logits = model->forward(x.to(mixed.dtype()));
  auto loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat), y);
  loss.backward();
  if (to_master)
    to_master();
  else
    mixed.gradients_to_master();
  return {flat.grads().clone(), loss.detach()};
}

TEST(MixedPrecisionWeights, Bf16GradientsReachTheFloat32MasterAndAgreeWithFloat32) {
  torch::manual_seed(1);
  auto x = torch::randn({8, 1, 16, 16});
  auto y = torch::randint(0, 10, {8}, torch::kLong);

  auto ref_model = small_model();
  ref_model->train();
  FlatParameters ref_flat(*ref_model);
  MixedPrecisionWeights off;
  EXPECT_FALSE(off.enabled());
  auto ref = grad_step(ref_model, ref_flat, off, x, y);

  auto model = small_model();
  model->train();
  FlatParameters flat(*model);
  MixedPrecisionWeights mixed(*model, flat, torch::kBFloat16);
  EXPECT_FALSE(mixed.on_compute()) << "the module keeps its master tensors until use_compute()";
  mixed.use_compute();
  ASSERT_TRUE(mixed.on_compute());
  for (const auto& m : model->modules()) {
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
      EXPECT_EQ(bn->weight.scalar_type(), torch::kFloat);
      EXPECT_EQ(bn->running_mean.scalar_type(), torch::kFloat);
    }
    if (auto* conv = m->as<torch::nn::Conv2dImpl>()) {
      EXPECT_EQ(conv->weight.scalar_type(), torch::kBFloat16);
    }
  }
  auto got = grad_step(model, flat, mixed, x, y);
  ASSERT_EQ(got.grads.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::isfinite(got.grads).all().item<bool>());
  // Every parameter got a gradient (BN ones directly, the others through the compute buffer).
  // bf16 rounding through BatchNorm's backward on a batch of 8 moves the gradient by ~8% of its
  // norm (measured), along the same direction; a gradient lost or left unconverted is far off both.
  const double rel = ((got.grads - ref.grads).norm() / ref.grads.norm()).item<double>();
  const double cos = (got.grads.dot(ref.grads) / (got.grads.norm() * ref.grads.norm())).item<double>();
  EXPECT_LT(rel, 0.15) << "bf16 gradients far from the fp32 ones";
  EXPECT_GT(cos, 0.99) << "bf16 gradients point elsewhere than the fp32 ones";
  EXPECT_GT(rel, 0.0) << "identical to fp32: the step did not run in bf16";
  EXPECT_NEAR(got.loss.item<double>(), ref.loss.item<double>(), 0.02 * ref.loss.item<double>());

  // Back on the master: the float32 module aliases the flat buffers again, values untouched.
  mixed.use_master();
  EXPECT_TRUE(flat.aliased());
  for (const auto& p : model->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat);
}

// What a data-parallel gradient hook does per parameter (train/data_parallel.h, overlapped
// reduction) gives the master gradients of gradients_to_master(), bit for bit; BatchNorm's
// float32 parameters are left alone (their gradients are in the master already).
TEST(MixedPrecisionWeights, OneParameterAtATimeEqualsAllAtOnce) {
  torch::manual_seed(3);
  auto x = torch::randn({8, 1, 16, 16});
  auto y = torch::randint(0, 10, {8}, torch::kLong);
  auto model = small_model();
  model->train();
  FlatParameters flat(*model);
  MixedPrecisionWeights mixed(*model, flat, torch::kBFloat16);
  mixed.use_compute();
  const auto all_at_once = grad_step(model, flat, mixed, x, y).grads;
  // The same step again, its gradients converted one parameter at a time.
  const auto one_at_a_time = grad_step(model, flat, mixed, x, y, [&] {
    EXPECT_FALSE(torch::equal(flat.grads(), all_at_once)) << "nothing converted yet";
    for (const auto& p : model->parameters()) mixed.gradient_to_master(p);
  }).grads;
  EXPECT_TRUE(torch::equal(one_at_a_time, all_at_once));
}

TEST(MixedPrecisionWeights, RefreshFollowsTheMasterAndMasterScopeRestoresCompute) {
  auto model = small_model();
  FlatParameters flat(*model);
  MixedPrecisionWeights mixed(*model, flat, torch::kBFloat16);
  mixed.use_compute();
  auto conv_weight = [&] {
    for (const auto& m : model->modules())
      if (auto* conv = m->as<torch::nn::Conv2dImpl>()) return conv->weight;
    return torch::Tensor();
  };
  {
    torch::NoGradGuard no_grad;
    flat.params().fill_(0.25);  // an "update" of the master
  }
  EXPECT_FALSE(torch::all(conv_weight().eq(0.25)).item<bool>()) << "the compute copy changed before refresh()";
  mixed.refresh();
  EXPECT_TRUE(torch::all(conv_weight().to(torch::kFloat).eq(0.25)).item<bool>());
  {
    MixedPrecisionWeights::MasterScope master(mixed);
    EXPECT_EQ(conv_weight().scalar_type(), torch::kFloat);
    EXPECT_TRUE(flat.aliased());
  }
  EXPECT_TRUE(mixed.on_compute());
  EXPECT_EQ(conv_weight().scalar_type(), torch::kBFloat16);
}

TEST(MixedPrecisionWeights, ShortBf16TrainingLowersTheLoss) {
  torch::manual_seed(2);
  auto x = torch::randn({32, 1, 16, 16});
  auto y = torch::randint(0, 10, {32}, torch::kLong);
  x += y.view({-1, 1, 1, 1}).to(torch::kFloat) * 0.3;  // learnable
  auto model = small_model();
  model->train();
  FlatParameters flat(*model);
  wrn::train::SgdOptions so;
  so.lr = 0.05;
  wrn::train::Sgd sgd(flat, so);
  MixedPrecisionWeights mixed(*model, flat, torch::kBFloat16);
  mixed.use_compute();
  double first = 0, last = 0;
  for (int i = 0; i < 20; ++i) {
    auto s = grad_step(model, flat, mixed, x, y);
    sgd.step(so.lr);
    mixed.refresh();
    (i == 0 ? first : last) = s.loss.item<double>();
  }
  EXPECT_LT(last, 0.7 * first) << "first " << first << " last " << last;
  EXPECT_EQ(flat.params().scalar_type(), torch::kFloat);
}

TEST(LossScaler, DisabledIsANoOp) {
  LossScaler off;
  auto g = torch::full({4}, std::numeric_limits<float>::infinity());
  EXPECT_TRUE(off.unscale_and_update(g));
  EXPECT_EQ(off.scale(), 1.0);
  auto loss = torch::tensor(2.0);
  EXPECT_TRUE(off.scale_loss(loss).equal(loss));
}

TEST(LossScaler, OverflowSkipsTheStepAndHalvesTheScale) {
  LossScaler s(LossScalerOptions{});
  EXPECT_EQ(s.scale(), 65536.0);
  EXPECT_DOUBLE_EQ(s.scale_loss(torch::tensor(0.5)).item<double>(), 32768.0);
  auto good = torch::full({8}, 65536.0f);
  EXPECT_TRUE(s.unscale_and_update(good));
  EXPECT_TRUE(torch::allclose(good, torch::ones({8}))) << "gradients are unscaled in place";
  for (float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN()}) {
    auto g = torch::ones({8});
    g[3] = bad;
    const double before = s.scale();
    EXPECT_FALSE(s.unscale_and_update(g)) << bad;
    EXPECT_EQ(s.scale(), before / 2) << bad;
    EXPECT_EQ(s.good_steps_in_a_row(), 0);
  }
  EXPECT_EQ(s.skipped_steps(), 3);
}

TEST(LossScaler, GrowsAfterGrowthIntervalGoodStepsInARow) {
  LossScalerOptions o;
  o.init_scale = 8;
  o.growth_interval = 3;
  LossScaler s(o);
  s.update(false);
  s.update(false);
  EXPECT_EQ(s.scale(), 8);
  s.update(true);  // an overflow restarts the count
  EXPECT_EQ(s.scale(), 4);
  s.update(false);
  s.update(false);
  EXPECT_EQ(s.scale(), 4);
  s.update(false);
  EXPECT_EQ(s.scale(), 8);
  EXPECT_EQ(s.good_steps_in_a_row(), 0);
  EXPECT_EQ(s.skipped_steps(), 1);
}

TEST(LossScaler, StateRoundTripsAndRejectsABadScale) {
  LossScalerOptions o;
  o.growth_interval = 5;
  LossScaler a(o);
  a.update(true);
  a.update(false);
  LossScaler b(o);
  b.load_state(a.state(), "ck");
  EXPECT_EQ(b.scale(), a.scale());
  EXPECT_EQ(b.good_steps_in_a_row(), 1);
  EXPECT_EQ(b.skipped_steps(), 1);
  auto bad = a.state();
  bad[0].value = torch::tensor(std::nan(""), torch::kDouble);
  EXPECT_THROW(b.load_state(bad, "ck"), wrn::FileError);
  EXPECT_THROW(LossScaler(LossScalerOptions{0.0}), wrn::ConfigError);
}

}  // namespace
