// Shapes, forward+backward, settings and validation messages of every family.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "wrn/core/error.h"
#include "wrn/models/preact_resnet.h"
#include "wrn/models/registry.h"
#include "wrn/models/resnet.h"
#include "wrn/models/summary.h"
#include "wrn/models/wide_resnet.h"

namespace {

using wrn::models::ModelSpec;

ModelSpec spec_of(const std::string& name, int64_t classes, const std::string& input,
                  std::vector<std::string> settings = {}) {
  ModelSpec spec;
  spec.name = name;
  spec.classes = classes;
  if (!input.empty()) spec.input = wrn::models::InputShape::parse(input);
  for (const auto& s : settings) spec.add_setting(s);
  return spec;
}

// Builds the model, runs forward + backward on a tiny batch in training mode and checks the
// logits' shape and that every parameter received a finite gradient.
void check_forward_backward(const ModelSpec& spec) {
  SCOPED_TRACE(spec.name);
  auto resolved = wrn::models::resolve_spec(spec);
  auto model = wrn::models::build_model(resolved);
  model->train();
  torch::manual_seed(0);
  auto x = torch::randn({2, resolved.input.channels, resolved.input.height, resolved.input.width});
  auto logits = model->forward(x);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{2, resolved.classes}));
  ASSERT_TRUE(torch::isfinite(logits).all().item<bool>());
  auto loss = torch::nn::functional::cross_entropy(logits, torch::tensor({0, 1}));
  loss.backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    ASSERT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
  }
}

TEST(Models, ForwardBackwardEveryFamily) {
  check_forward_backward(spec_of("resnet18", 7, "3x32x32"));
  check_forward_backward(spec_of("resnext50_32x4d", 5, "3x32x32"));
  check_forward_backward(spec_of("resnet20", 10, ""));
  check_forward_backward(spec_of("preact_resnet18", 10, ""));
  check_forward_backward(spec_of("preact_resnet110", 100, "3x16x16"));
  check_forward_backward(spec_of("preact_resnet152", 10, "3x32x32"));
  check_forward_backward(spec_of("wrn-16-2", 10, "", {"dropout=0.3"}));
  check_forward_backward(spec_of("wrn-10-1", 10, "1x28x28"));
}

TEST(Models, WideResNetBlockTypesAndDeepening) {
  for (const char* block : {"3,1,3", "1,3,1", "3,1", "1,3", "3,1,1", "B(3,3)"}) {
    std::string b = block;
    int64_t convs = b == "B(3,3)" ? 2 : static_cast<int64_t>(std::count(b.begin(), b.end(), ',')) + 1;
    int64_t depth = 3 * convs * 1 + 4;  // one block per group
    check_forward_backward(spec_of("wrn-" + std::to_string(depth) + "-1", 10, "3x16x16", {"block=" + b}));
  }
  check_forward_backward(spec_of("wrn-13-1", 10, "3x16x16", {"deepening=3"}));
}

TEST(Models, IdentityMappingsAblations) {
  for (const char* order : {"original", "bn_after_addition", "relu_before_addition", "relu_only_preact", "full_preact"}) {
    check_forward_backward(spec_of("resnet20", 10, "3x16x16", {std::string("activation=") + order}));
    check_forward_backward(spec_of("resnet164", 10, "3x8x8", {std::string("activation=") + order}));
  }
  for (const char* variant : {"identity", "constant_scaling", "exclusive_gating", "shortcut_only_gating", "dropout"}) {
    check_forward_backward(spec_of("resnet20", 10, "3x16x16", {std::string("shortcut_variant=") + variant}));
  }
  check_forward_backward(spec_of("resnet20", 10, "3x16x16", {"shortcut_variant=conv1x1", "shortcut=B"}));
}

TEST(Models, ConstantScalingAndGatingMathOnOneBlock) {
  // With lambda = 0.5 on both paths, a block computes relu(0.5 F(x) + 0.5 x).
  auto options = wrn::models::ResNetOptions()
                     .stem(wrn::models::Stem::Cifar)
                     .shortcut_variant(wrn::models::ShortcutVariant::ConstantScaling)
                     .shortcut_scale(0.5);
  wrn::models::ResNetBlock scaled(options, 4, 4, 1);
  options.shortcut_variant(wrn::models::ShortcutVariant::Identity);
  wrn::models::ResNetBlock plain(options, 4, 4, 1);
  plain->eval();
  scaled->eval();
  // Same weights in both blocks.
  torch::NoGradGuard no_grad;
  auto src = plain->named_parameters();
  for (auto& p : scaled->named_parameters()) p.value().copy_(src[p.key()]);
  auto x = torch::randn({1, 4, 5, 5});
  // plain: relu(F + x) -> recover F by comparing against a zero-input run is messy; instead
  // check relu(0.5 F + 0.5 x) == 0.5 relu(F + x) since relu is positively homogeneous.
  EXPECT_TRUE(torch::allclose(scaled->forward(x), 0.5 * plain->forward(x), 1e-5, 1e-6));

  // Exclusive gating with a very negative gate bias passes the shortcut through: g ~ 0.
  auto gated = wrn::models::ResNetOptions()
                   .stem(wrn::models::Stem::Cifar)
                   .shortcut_variant(wrn::models::ShortcutVariant::ExclusiveGating)
                   .gate_bias(-40);
  wrn::models::ResNetBlock gate_block(gated, 4, 4, 1);
  gate_block->eval();
  auto pos = x.abs();
  EXPECT_TRUE(torch::allclose(gate_block->forward(pos), pos, 1e-5, 1e-6));
}

TEST(Models, StageShapes) {
  auto spec = wrn::models::resolve_spec(spec_of("wrn-28-10", 10, ""));
  auto model = wrn::models::build_model(spec);
  auto s = wrn::models::summarize(*model, spec.input);
  ASSERT_EQ(s.stages.size(), 6u);
  EXPECT_EQ(s.stages[0].shape, (std::vector<int64_t>{16, 32, 32}));
  EXPECT_EQ(s.stages[1].shape, (std::vector<int64_t>{160, 32, 32}));
  EXPECT_EQ(s.stages[2].shape, (std::vector<int64_t>{320, 16, 16}));
  EXPECT_EQ(s.stages[3].shape, (std::vector<int64_t>{640, 8, 8}));
  EXPECT_EQ(s.stages[5].shape, (std::vector<int64_t>{10}));

  auto r = wrn::models::resolve_spec(spec_of("resnet50", 0, ""));
  auto resnet = wrn::models::build_model(r);
  auto rs = wrn::models::summarize(*resnet, r.input);
  EXPECT_EQ(rs.stages[0].shape, (std::vector<int64_t>{64, 56, 56}));
  EXPECT_EQ(rs.stages[4].shape, (std::vector<int64_t>{2048, 7, 7}));
}

TEST(Models, TorchvisionStateDictNames) {
  auto model = wrn::models::build_model(spec_of("resnet50", 0, ""));
  auto params = model->named_parameters();
  for (const char* key : {"conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer1.0.downsample.0.weight",
                          "layer1.0.downsample.1.bias", "layer4.2.bn3.weight", "fc.weight", "fc.bias"}) {
    EXPECT_TRUE(params.contains(key)) << key;
  }
  auto buffers = model->named_buffers();
  EXPECT_TRUE(buffers.contains("layer2.0.bn2.running_var"));
}

TEST(Models, InitialisationOptions) {
  // zero_init_residual zeroes the last BN of every residual branch.
  auto model = wrn::models::build_model(spec_of("resnet50", 0, "", {"zero_init_residual=true"}));
  auto params = model->named_parameters();
  EXPECT_EQ(params["layer1.0.bn3.weight"].abs().sum().item<float>(), 0.0f);
  EXPECT_GT(params["layer1.0.bn2.weight"].abs().sum().item<float>(), 0.0f);
  // WRN: fan_in Kaiming normal, std sqrt(2 / fan_in).
  auto wrn_model = wrn::models::build_model(spec_of("wrn-16-8", 0, ""));
  auto w = wrn_model->named_parameters()["layer3.0.conv2.weight"];  // 512 x 512 x 3 x 3
  EXPECT_NEAR(w.std().item<float>(), std::sqrt(2.0 / (512 * 9)), 0.002);
  // BN gamma ~ U(0, 1) as in the original WRN code.
  auto uniform = wrn::models::build_model(spec_of("wrn-16-8", 0, "", {"bn_init=uniform"}));
  auto g = uniform->named_parameters()["layer3.0.bn2.weight"];
  EXPECT_GE(g.min().item<float>(), 0.0f);
  EXPECT_LT(g.max().item<float>(), 1.0f);
  EXPECT_NEAR(g.mean().item<float>(), 0.5, 0.1);
  // Linear bias 0.
  EXPECT_EQ(wrn_model->named_parameters()["fc.bias"].abs().sum().item<float>(), 0.0f);
}

TEST(Models, ResetClassifierKeepsTheRest) {
  auto model = wrn::models::build_model(spec_of("wrn-16-1", 10, ""));
  auto before = model->named_parameters()["layer1.0.conv1.weight"].clone();
  model->reset_classifier(3);
  EXPECT_EQ(model->num_classes(), 3);
  EXPECT_EQ(model->forward(torch::randn({1, 3, 32, 32})).size(1), 3);
  EXPECT_TRUE(torch::equal(before, model->named_parameters()["layer1.0.conv1.weight"]));
}

// ---- every rejected combination has a test for its message ---------------------------------

void expect_config_error(const ModelSpec& spec, const std::string& fragment) {
  try {
    wrn::models::build_model(spec);
    FAIL() << "expected an error containing: " << fragment;
  } catch (const wrn::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(ModelValidation, Messages) {
  expect_config_error(spec_of("wrn-17-4", 0, ""), "WRN depth must be 6n+4 with the B(3,3) block, got 17");
  expect_config_error(spec_of("wrn-28-2", 0, "", {"block=3,1,3"}), "WRN depth must be 9n+4 with the B(3,1,3) block, got 28");
  expect_config_error(spec_of("wrn-16-0", 0, ""), "WRN widening factor k must be at least 1, got 0");
  expect_config_error(spec_of("wrn-16-4", 0, "", {"dropout=1.5"}), "WRN dropout must be in [0, 1), got 1.5");
  expect_config_error(spec_of("wrn-16-4", 0, "", {"block=3,5"}), "kernel sizes must be 1 or 3, got 5");
  expect_config_error(spec_of("wrn-16-4", 0, "", {"deepening=0"}), "must be 1 to 64, got 0");
  expect_config_error(spec_of("wrn-16-4", 0, "", {"deepening=100000000"}), "must be 1 to 64, got 100000000");
  expect_config_error(spec_of("wrn-16-4", 0, "", {"dropot=0.3"}), "did you mean 'dropout'?");
  expect_config_error(spec_of("wrn-16-4", 0, "", {"dropout=abc"}), "dropout: expected a number, got 'abc'");
  expect_config_error(spec_of("resnet5", 0, ""), "unknown model 'resnet5' (did you mean 'resnet50'?)");
  expect_config_error(spec_of("resnet18", 0, "", {"groups=32"}), "basic blocks support only groups=1");
  expect_config_error(spec_of("resnet20", 0, "", {"shortcut=D"}), "shortcut: expected A, B or C, got 'D'");
  expect_config_error(spec_of("preact_resnet164", 0, "", {"shortcut=C"}), "shortcut: expected A or B, got 'C'");
  expect_config_error(spec_of("resnet20", 0, "", {"activation=preact"}), "activation: expected one of original");
  expect_config_error(spec_of("resnet20", 0, "", {"shortcut_variant=conv1x1"}),
                      "cannot be combined with shortcut A");
  expect_config_error(spec_of("resnet20", 0, "", {"shortcut_dropout=1"}), "shortcut_dropout must be in [0, 1)");
  expect_config_error(spec_of("resnet20", 0, "", {"init=xavier"}), "init: expected fan_in or fan_out, got 'xavier'");
  expect_config_error(spec_of("resnet20", 0, "", {"bn_init=zeros"}), "bn_init: expected ones or uniform");
  expect_config_error(spec_of("resnet20", 0, "", {"zero_init_residual=maybe"}), "expected true or false");
  expect_config_error(spec_of("resnet20", -3, ""), "--classes: expected a positive number of classes, got -3");
  EXPECT_THROW(wrn::models::InputShape::parse("3x32"), wrn::ConfigError);
  EXPECT_THROW(wrn::models::InputShape::parse("0x32x32"), wrn::ConfigError);
  ModelSpec bad;
  EXPECT_THROW(bad.add_setting("dropout"), wrn::ConfigError);
}

TEST(ModelValidation, OptionsStructsValidateDirectly) {
  using namespace wrn::models;
  EXPECT_THROW(ResNet(ResNetOptions().layers({2, 2}).planes({64})), wrn::ConfigError);
  EXPECT_THROW(ResNet(ResNetOptions().layers({2, 0, 2, 2})), wrn::ConfigError);
  EXPECT_THROW(ResNet(ResNetOptions().num_classes(0)), wrn::ConfigError);
  EXPECT_THROW(PreActResNet(PreActResNetOptions().in_channels(0)), wrn::ConfigError);
  EXPECT_THROW(WideResNet(WideResNetOptions().block_type({})), wrn::ConfigError);
}

}  // namespace
