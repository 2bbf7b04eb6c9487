// bf16 inference: the plain forward of every family with its convolutions and classifier cast
// to bf16 (models::cast_for_inference) against the float32 forward, and the bf16 optimized path
// (FusedClassifier, BN folded into bf16 weights) against the bf16 plain forward, in every layout.
//
// Tolerance: bf16 keeps 8 significant bits (relative rounding 2^-9 per value); through 20-160
// layers of random weights the logits move by up to 1.4% of their range (measured; the tests
// print their worst case). 5% leaves room without letting a wrong op through: an op missing
// its cast or a dropped BN shows up as errors of order 100%.
// Runs on any CPU: without AMX/AVX-512-BF16 the bf16 kernels run in software (slower).
#include <ATen/Config.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "export_test_util.h"
#include "wrn/core/cpu_features.h"
#include "wrn/core/error.h"
#include "wrn/core/precision.h"
#include "wrn/infer/fused_model.h"
#include "wrn/infer/predictor.h"
#include "wrn/models/precision.h"
#include "wrn/models/registry.h"

namespace {

using wrn::infer::FusedClassifier;
using wrn::infer::FuseOptions;
using wrn::infer::Layout;
using wrn::test::rel_err;

constexpr double kBf16Tolerance = 0.05;

struct Case {
  std::string name;
  std::vector<std::string> settings;
  wrn::models::InputShape input;
};

// One network of each family and of each residual-unit combination the lowering knows.
const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"resnet20", {}, {3, 32, 32}},
      {"resnet20", {"shortcut=B"}, {3, 32, 32}},
      {"resnet20", {"activation=bn_after_addition"}, {3, 32, 32}},
      {"resnet20", {"shortcut_variant=exclusive_gating"}, {3, 32, 32}},
      {"resnet20", {"shortcut_variant=constant_scaling"}, {3, 32, 32}},
      {"resnet18", {}, {3, 64, 64}},
      {"resnet50", {}, {3, 64, 64}},
      {"preact_resnet18", {}, {3, 32, 32}},
      {"preact_resnet164", {}, {3, 32, 32}},
      {"wrn-16-4", {}, {3, 32, 32}},
      {"wrn-10-2", {}, {1, 28, 28}},
  };
  return all;
}

wrn::models::Classifier make(const Case& c) { return wrn::test::make_model(c.name, c.settings, c.input); }

std::string label(const Case& c) {
  std::string s = c.name;
  for (const auto& x : c.settings) s += " " + x;
  return s;
}

torch::Tensor plain_forward(wrn::models::Classifier& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return model->forward(x);
}

TEST(Bf16Inference, PlainForwardOfEveryFamilyIsCloseToFloat32) {
  double worst = 0;
  for (const auto& c : cases()) {
    auto model = make(c);
    auto x = torch::randn({2, c.input.channels, c.input.height, c.input.width});
    auto fp32 = plain_forward(model, x);
    wrn::models::cast_for_inference(*model, torch::kBFloat16);
    auto bf16 = plain_forward(model, x.to(torch::kBFloat16));
    ASSERT_EQ(bf16.scalar_type(), torch::kBFloat16) << label(c);
    const double err = rel_err(bf16.to(torch::kFloat), fp32);
    EXPECT_LT(err, kBf16Tolerance) << label(c);
    EXPECT_GT(err, 0.0) << label(c) << ": no difference at all, so the forward did not run in bf16";
    worst = std::max(worst, err);
  }
  std::printf("worst relative logit error, bf16 vs fp32: %.4f\n", worst);
}

TEST(Bf16Inference, OptimizedPathMatchesTheBf16PlainForwardInEveryLayout) {
  double worst = 0;
  for (const auto& c : cases()) {
    auto model = make(c);
    auto x = torch::randn({2, c.input.channels, c.input.height, c.input.width});
    std::vector<FusedClassifier> fused;
    for (auto layout : {Layout::Contiguous, Layout::ChannelsLast, Layout::Mkldnn}) {
      FuseOptions o;
      o.layout = layout;
      o.dtype = torch::kBFloat16;
      fused.push_back(FusedClassifier::build(model, o));
      // oneDNN refuses bf16 weights in its own layout on a CPU without its bf16 instructions
      // (an AVX2-only CPU): the build falls back to channels_last there.
      if (layout == Layout::Mkldnn && at::hasMKLDNN()) {
        EXPECT_EQ(fused.back().layout(), wrn::cpu_features().onednn_bf16 ? Layout::Mkldnn : Layout::ChannelsLast);
      }
    }
    auto fp32 = plain_forward(model, x);
    wrn::models::cast_for_inference(*model, torch::kBFloat16);
    auto plain = plain_forward(model, x.to(torch::kBFloat16)).to(torch::kFloat);
    for (const auto& f : fused) {
      EXPECT_EQ(f.dtype(), torch::kBFloat16);
      auto got = f.forward(x);
      ASSERT_EQ(got.scalar_type(), torch::kFloat) << "logits leave the optimized path as float32";
      EXPECT_LT(rel_err(got, plain), kBf16Tolerance) << label(c) << " " << wrn::infer::layout_name(f.layout());
      EXPECT_LT(rel_err(got, fp32), kBf16Tolerance) << label(c) << " " << wrn::infer::layout_name(f.layout());
      worst = std::max(worst, rel_err(got, plain));
    }
  }
  std::printf("worst relative logit error, optimized bf16 vs plain bf16: %.4f\n", worst);
}

TEST(Bf16Inference, CastForInferenceLeavesBatchNormInFloat32AndCanBeUndone) {
  auto model = make({"wrn-10-2", {}, {1, 28, 28}});
  wrn::models::cast_for_inference(*model, torch::kBFloat16);
  int64_t reduced = 0, kept = 0;
  for (const auto& m : model->modules()) {
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
      EXPECT_EQ(bn->weight.scalar_type(), torch::kFloat);
      EXPECT_EQ(bn->running_var.scalar_type(), torch::kFloat);
      ++kept;
    } else if (auto* conv = m->as<torch::nn::Conv2dImpl>()) {
      EXPECT_EQ(conv->weight.scalar_type(), torch::kBFloat16);
      ++reduced;
    } else if (auto* fc = m->as<torch::nn::LinearImpl>()) {
      EXPECT_EQ(fc->weight.scalar_type(), torch::kBFloat16);
      EXPECT_EQ(fc->bias.scalar_type(), torch::kBFloat16);
      ++reduced;
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(reduced, 0);
  wrn::models::cast_for_inference(*model, torch::kFloat);
  for (const auto& p : model->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat);
}

TEST(Bf16Inference, PredictorRunsBothPathsInBf16) {
  auto model = make({"wrn-10-2", {}, {1, 28, 28}});
  auto x = torch::randn({3, 1, 28, 28});
  auto fp32 = plain_forward(model, x);
  for (bool optimized : {true, false}) {
    auto m = make({"wrn-10-2", {}, {1, 28, 28}});
    wrn::infer::PredictorOptions o;
    o.preprocess = wrn::infer::Preprocess::for_input({1, 28, 28});
    o.optimized = optimized;
    o.fuse.dtype = torch::kBFloat16;
    wrn::infer::Predictor p(m, o);
    auto got = p.logits(x);
    EXPECT_EQ(got.scalar_type(), torch::kFloat);
    EXPECT_LT(rel_err(got, fp32), kBf16Tolerance) << (optimized ? "optimized" : "plain");
    EXPECT_GT(rel_err(got, fp32), 0.0) << (optimized ? "optimized" : "plain");
  }
}

TEST(Bf16Inference, RejectsAnUnsupportedDtype) {
  auto model = make({"wrn-10-2", {}, {1, 28, 28}});
  FuseOptions o;
  o.dtype = torch::kHalf;
  EXPECT_THROW(FusedClassifier::build(model, o), wrn::ConfigError);
}

}  // namespace
