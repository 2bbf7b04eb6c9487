// FusedClassifier (BN folding, in-place ReLU, oneDNN layouts) against the plain eval-mode
// forward of every family and every ablation order/variant.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "export_test_util.h"
#include "wrn/core/error.h"
#include "wrn/infer/fused_model.h"
#include "wrn/models/registry.h"

namespace {

using wrn::infer::FusedClassifier;
using wrn::infer::FuseOptions;
using wrn::infer::Layout;

struct Case {
  std::string name;
  std::vector<std::string> settings;
  wrn::models::InputShape input;
  int64_t batch = 2;
};

using wrn::test::rel_err;

wrn::models::Classifier named_model(const std::string& name) {
  wrn::models::ModelSpec spec;
  spec.name = name;
  return wrn::models::build_model(spec);
}

void check_case(const Case& c, Layout layout) {
  torch::manual_seed(7);
  wrn::models::ModelSpec spec;
  spec.name = c.name;
  spec.input = c.input;
  for (const auto& s : c.settings) spec.add_setting(s);
  auto model = wrn::models::build_model(spec);
  wrn::test::randomize_statistics(*model);
  model->eval();
  auto x = torch::randn({c.batch, c.input.channels, c.input.height, c.input.width});
  torch::Tensor expected;
  {
    torch::NoGradGuard no_grad;
    expected = model->forward(x);
  }
  FuseOptions options;
  options.layout = layout;
  auto fused = FusedClassifier::build(model, options);
  auto got = fused.forward(x);
  ASSERT_EQ(got.sizes(), expected.sizes());
  EXPECT_LT(rel_err(got, expected), 1e-4) << c.name << " layout " << wrn::infer::layout_name(layout) << " "
                                           << fused.stats().str();
  EXPECT_GT(fused.stats().folded_bns, 0) << c.name;
  // The input is left alone (in-place ReLUs only touch temporaries).
  EXPECT_TRUE(torch::isfinite(x).all().item<bool>());
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"resnet20", {}, {3, 32, 32}},
      {"resnet20", {"shortcut=B"}, {3, 32, 32}},
      {"resnet18", {}, {3, 64, 64}},
      {"resnet50", {}, {3, 64, 64}},
      {"resnet50", {"stride_in=1x1"}, {3, 64, 64}},
      {"resnext50_32x4d", {}, {3, 64, 64}},
      {"preact_resnet164", {}, {3, 32, 32}},
      {"preact_resnet18", {}, {3, 32, 32}},
      {"wrn-16-4", {}, {3, 32, 32}},
      {"wrn-13-2", {"dropout=0.3", "block=3,1,3"}, {3, 32, 32}},
      {"wrn-10-2", {}, {1, 28, 28}, 3},
      {"resnet20", {"activation=original"}, {3, 32, 32}},
      {"resnet20", {"activation=bn_after_addition"}, {3, 32, 32}},
      {"resnet20", {"activation=relu_before_addition"}, {3, 32, 32}},
      {"resnet20", {"activation=relu_only_preact"}, {3, 32, 32}},
      {"resnet20", {"activation=full_preact"}, {3, 32, 32}},
      {"resnet20", {"shortcut_variant=constant_scaling"}, {3, 32, 32}},
      {"resnet20", {"shortcut_variant=exclusive_gating"}, {3, 32, 32}},
      {"resnet20", {"shortcut_variant=shortcut_only_gating"}, {3, 32, 32}},
      {"resnet20", {"shortcut=B", "shortcut_variant=conv1x1"}, {3, 32, 32}},
      {"resnet20", {"shortcut_variant=dropout"}, {3, 32, 32}},
  };
  return all;
}

TEST(FusedClassifier, MatchesEvalForwardForEveryFamilyMkldnn) {
  for (const auto& c : cases()) check_case(c, Layout::Mkldnn);
}

TEST(FusedClassifier, MatchesEvalForwardChannelsLastAndContiguous) {
  for (const auto& c : cases()) {
    if (c.name == "resnext50_32x4d" || c.name == "preact_resnet164") continue;  // covered above; slow
    check_case(c, Layout::ChannelsLast);
    check_case(c, Layout::Contiguous);
  }
}

TEST(FusedClassifier, FoldsTheExpectedBatchNorms) {
  torch::manual_seed(1);
  FuseOptions options;
  options.layout = Layout::Contiguous;
  // resnet20 (option A, no projections): stem BN + 2 per unit * 9 units, none kept.
  auto s = FusedClassifier::build(named_model("resnet20"), options).stats();
  EXPECT_EQ(s.folded_bns, 19);
  EXPECT_EQ(s.affine_bns, 0);
  EXPECT_EQ(s.convs, 19);
  // resnet18: stem + 2*8 + 3 downsample BNs.
  s = FusedClassifier::build(named_model("resnet18"), options).stats();
  EXPECT_EQ(s.folded_bns, 20);
  EXPECT_EQ(s.affine_bns, 0);
  // wrn-16-4: 6 units, each bn2 folds, bn1 stays; final_bn stays. Every ReLU runs with the
  // op before it: conv1's 6 with the convolution, the kept BatchNorms' 7 with them.
  s = FusedClassifier::build(named_model("wrn-16-4"), options).stats();
  EXPECT_EQ(s.folded_bns, 6);
  EXPECT_EQ(s.affine_bns, 7);
  EXPECT_EQ(s.inplace_relus, 13);
  // Without folding every BN stays.
  options.fold_batchnorm = false;
  s = FusedClassifier::build(named_model("wrn-16-4"), options).stats();
  EXPECT_EQ(s.folded_bns, 0);
  EXPECT_EQ(s.affine_bns, 13);
  EXPECT_EQ(s.inplace_relus, 13);  // each with its BatchNorm
}

TEST(FusedClassifier, IsIndependentOfLaterModelChanges) {
  torch::manual_seed(3);
  auto model = named_model("resnet20");
  wrn::test::randomize_statistics(*model);
  model->eval();
  auto x = torch::randn({2, 3, 32, 32});
  auto fused = FusedClassifier::build(model);
  auto before = fused.forward(x);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.mul_(2);
  }
  EXPECT_TRUE(torch::equal(fused.forward(x), before));
}

TEST(FusedClassifier, MatchesWithChannelsLastWeights) {
  // Training with channels_last stores conv weights with NHWC strides.
  torch::manual_seed(4);
  wrn::models::ModelSpec spec;
  spec.name = "wrn-10-1";
  spec.input = {1, 28, 28};
  auto model = wrn::models::build_model(spec);
  wrn::test::randomize_statistics(*model);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  }
  model->eval();
  auto x = torch::randn({2, 1, 28, 28});
  torch::Tensor expected;
  {
    torch::NoGradGuard no_grad;
    expected = model->forward(x);
  }
  for (auto layout : {Layout::Contiguous, Layout::ChannelsLast, Layout::Mkldnn}) {
    FuseOptions options;
    options.layout = layout;
    EXPECT_LT(rel_err(FusedClassifier::build(model, options).forward(x), expected), 1e-4)
        << wrn::infer::layout_name(layout);
  }
}

TEST(FusedClassifier, RejectsBadInput) {
  auto fused = FusedClassifier::build(named_model("resnet20"));
  EXPECT_THROW(fused.forward(torch::randn({3, 32, 32})), wrn::ConfigError);
  EXPECT_THROW(fused.forward(torch::randn({1, 3, 32, 32}, torch::kDouble)), wrn::ConfigError);
  EXPECT_THROW(wrn::infer::parse_layout("nhwc"), wrn::ConfigError);
  EXPECT_EQ(wrn::infer::parse_layout("channels_last"), Layout::ChannelsLast);
}

}  // namespace
