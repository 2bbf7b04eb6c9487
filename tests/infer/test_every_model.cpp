// The proof that each network is described once: for every model of the registry (and the
// Identity Mappings ablations), the eval() forward, the BN-folded fused path, the exported
// TorchScript module and the exported ONNX file run in OpenCV's dnn module give the same
// logits for the same weights. All four come from the same description: forward for the
// first, the blocks' to_graph() for the others.
//
// WRN_EVERY_MODEL_LARGE selects the large ImageNet networks (label slow); the default build of
// this file covers the rest (label interop, in CI).
#include <gtest/gtest.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "export_test_util.h"
#include "opencv_test_util.h"
#include "wrn/infer/fused_model.h"
#include "wrn/infer/onnx_export.h"
#include "wrn/infer/torchscript_export.h"
#include "wrn/models/registry.h"

namespace {

using wrn::models::Classifier;
using wrn::models::InputShape;
using wrn::test::make_model;
using wrn::test::rel_err;
using wrn::test::TempDir;

// Networks whose exports pass 100 MB (resnet101, wrn-28-10, ...) run only in the slow build.
constexpr int64_t kLargeParams = 26'000'000;

bool is_large(const std::string& name) {
  wrn::models::ModelSpec spec;
  spec.name = name;
  int64_t params = 0;
  for (const auto& p : wrn::models::build_model(spec)->parameters()) params += p.numel();
  return params > kLargeParams;
}

// make_model's random BN statistics blow activations up to inf over a thousand layers
// (resnet1202): measure every BN's running statistics on one random batch instead
// (momentum 1), keeping the random gammas and betas, so that each BN roughly normalizes what
// it sees. A floor on the variance keeps near-constant channels from amplifying rounding
// (1 / sqrt(eps)); a folding mistake still shows, as mean and variance stay non-trivial.
void calibrate_statistics(const Classifier& model, const InputShape& input) {
  torch::NoGradGuard no_grad;
  std::vector<torch::nn::BatchNorm2dImpl*> bns;
  for (auto& m : model->modules()) {
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) bns.push_back(bn);
  }
  for (auto* bn : bns) bn->options.momentum(1.0);
  model->train();
  torch::manual_seed(5);
  model->forward(torch::randn({4, input.channels, input.height, input.width}));
  model->eval();
  for (auto* bn : bns) bn->running_var.add_(0.5);
}

void check_all_paths(const std::string& name, const std::vector<std::string>& settings, const InputShape& input) {
  std::string label = name + " " + input.str();
  for (const auto& s : settings) label += " " + s;
  SCOPED_TRACE(label);
  Classifier model = make_model(name, settings, input);
  calibrate_statistics(model, input);
  torch::manual_seed(3);
  const auto x = torch::randn({2, input.channels, input.height, input.width});
  torch::Tensor expected;
  {
    torch::NoGradGuard no_grad;
    expected = model->forward(x);
  }
  const double fused = rel_err(wrn::infer::FusedClassifier::build(model).forward(x), expected);
  EXPECT_LT(fused, 1e-4);

  TempDir dir("wrn-every");
  const std::string ts_path = dir.file("model.ts");
  wrn::infer::export_torchscript(model, input, ts_path);
  auto loaded = torch::jit::load(ts_path);
  torch::Tensor ts_logits;
  {
    torch::NoGradGuard no_grad;
    ts_logits = loaded.forward({x}).toTensor();
  }
  const double ts = rel_err(ts_logits, expected);
  EXPECT_LT(ts, 1e-4);

  const std::string onnx_path = dir.file("model.onnx");
  wrn::infer::export_onnx(model, input, onnx_path);
  cv::dnn::Net net = wrn::test::load_opencv_net(onnx_path);
  const double onnx = rel_err(wrn::test::run_opencv(net, x), expected);
  EXPECT_LT(onnx, 1e-4);
  std::printf("[ every model ] %-56s fused %.2g  torchscript %.2g  onnx/opencv %.2g\n", label.c_str(), fused, ts,
              onnx);
}

// Small inputs keep the ImageNet networks cheap: 64x64 still leaves layer4 a 2x2 map.
InputShape test_input(const wrn::models::ModelInfo& info) {
  const auto& d = info.default_input;
  if (d.height > 64) return {d.channels, 64, 64};
  return d;
}

#ifndef WRN_EVERY_MODEL_LARGE

TEST(EveryModel, EvalFusedTorchScriptAndOnnxAgree) {
  int checked = 0;
  for (const auto& info : wrn::models::list_models()) {
    if (is_large(info.name)) continue;
    check_all_paths(info.name, {}, test_input(info));
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

TEST(EveryModel, IdentityMappingsAblationsAndWrnVariantsAgree) {
  for (const char* setting :
       {"activation=bn_after_addition", "activation=relu_before_addition", "activation=relu_only_preact",
        "activation=full_preact", "shortcut_variant=constant_scaling", "shortcut_variant=exclusive_gating",
        "shortcut_variant=shortcut_only_gating", "shortcut_variant=dropout"}) {
    check_all_paths("resnet20", {setting}, {3, 32, 32});
  }
  check_all_paths("resnet20", {"shortcut=B", "shortcut_variant=conv1x1"}, {3, 32, 32});
  check_all_paths("resnet20", {"shortcut=C"}, {3, 32, 32});
  check_all_paths("resnet164", {"stride_in=1x1"}, {3, 32, 32});
  check_all_paths("resnet20", {"shortcut_variant=constant_scaling", "scale_branch=false"}, {3, 32, 32});
  check_all_paths("preact_resnet110", {"shortcut=A"}, {3, 32, 32});
  check_all_paths("wrn-22-2", {"dropout=0.3", "block=3,1,3"}, {3, 32, 32});
  check_all_paths("wrn-22-2", {"deepening=3"}, {3, 32, 32});
  check_all_paths("wrn-10-2", {}, {1, 28, 28});
}

#else

TEST(EveryModel, LargeNetworksAgree) {
  int checked = 0;
  for (const auto& info : wrn::models::list_models()) {
    if (!is_large(info.name)) continue;
    check_all_paths(info.name, {}, test_input(info));
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

#endif

}  // namespace
