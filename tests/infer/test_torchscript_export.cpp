// TorchScript export: the scripted module, loaded back with torch::jit::load, gives the
// model's eval() logits for every family, at any batch size and image size.
#include <gtest/gtest.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/torch.h>

#include <sstream>
#include <string>
#include <vector>

#include "export_test_util.h"
#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/infer/torchscript_export.h"

namespace {

using wrn::models::InputShape;
using wrn::test::make_model;
using wrn::test::rel_err;
using wrn::test::TempDir;

struct Case {
  std::string name;
  std::vector<std::string> settings;
  InputShape input;
};

TEST(TorchScriptExport, LoadsBackWithTheSameLogits) {
  TempDir dir("wrn-ts");
  for (const auto& c : std::vector<Case>{
           {"resnet20", {}, {3, 32, 32}},
           {"resnet18", {}, {3, 64, 64}},
           {"resnext50_32x4d", {}, {3, 64, 64}},
           {"preact_resnet164", {}, {3, 32, 32}},
           {"preact_resnet18", {}, {3, 32, 32}},
           {"wrn-16-2", {"dropout=0.3"}, {3, 32, 32}},
           {"wrn-10-2", {}, {1, 28, 28}},
           {"resnet20", {"shortcut_variant=exclusive_gating"}, {3, 32, 32}},
           {"resnet20", {"shortcut_variant=shortcut_only_gating"}, {3, 32, 32}},
           {"resnet20", {"shortcut_variant=constant_scaling"}, {3, 32, 32}},
           {"resnet20", {"activation=bn_after_addition"}, {3, 32, 32}},
           {"resnet20", {"activation=full_preact"}, {3, 32, 32}},
           {"resnet20", {"activation=relu_only_preact"}, {3, 32, 32}},
       }) {
    auto model = make_model(c.name, c.settings, c.input);
    std::string label = c.name + " " + c.input.str();
    for (const auto& s : c.settings) label += " " + s;
    const std::string path = dir.file("model.ts");
    wrn::infer::export_torchscript(model, c.input, path);
    auto loaded = torch::jit::load(path);
    EXPECT_FALSE(loaded.is_training()) << label;
    double worst = 0.0;
    for (int64_t batch : {1, 3}) {
      auto x = torch::randn({batch, c.input.channels, c.input.height, c.input.width});
      torch::NoGradGuard no_grad;
      auto expected = model->forward(x);
      auto got = loaded.forward({x}).toTensor();
      ASSERT_EQ(got.sizes(), expected.sizes()) << label;
      worst = std::max(worst, rel_err(got, expected));
    }
    EXPECT_LT(worst, 1e-4) << label;
    std::printf("[ torchscript ] %-56s max rel err %.3g\n", label.c_str(), worst);
  }
}

TEST(TorchScriptExport, CarriesMetadataAndFreeImageSize) {
  auto model = make_model("wrn-16-2", {}, {3, 32, 32});
  const std::string bytes = wrn::infer::encode_torchscript(model, {3, 32, 32});
  std::istringstream in(bytes);
  torch::jit::ExtraFilesMap extra{{"wrn.json", ""}};
  auto loaded = torch::jit::load(in, c10::nullopt, extra);
  EXPECT_NE(extra["wrn.json"].find("\"wide_resnet\""), std::string::npos) << extra["wrn.json"];
  EXPECT_NE(extra["wrn.json"].find("3x32x32"), std::string::npos) << extra["wrn.json"];
  // Scripted, not traced: another image size runs too.
  auto x = torch::randn({2, 3, 40, 48});
  torch::NoGradGuard no_grad;
  EXPECT_LT(rel_err(loaded.forward({x}).toTensor(), model->forward(x)), 1e-4);
  // Named parameters, the state_dict names with '_'.
  bool found = false;
  for (const auto& p : loaded.named_parameters()) found = found || p.name == "layer1_0_conv1_weight";
  EXPECT_TRUE(found);
}

TEST(TorchScriptExport, UnwritablePathThrowsFileErrorAndLeavesNothing) {
  auto model = make_model("resnet20", {}, {3, 32, 32});
  TempDir dir("wrn-ts-err");
  const std::string path = dir.file("missing/model.ts");
  try {
    wrn::infer::export_torchscript(model, {3, 32, 32}, path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const wrn::FileError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_TRUE(wrn::test::list_dir(dir.path).empty());
  EXPECT_THROW(wrn::infer::export_torchscript(model, {1, 32, 32}, dir.file("x.ts")), wrn::ConfigError);
  EXPECT_TRUE(wrn::test::list_dir(dir.path).empty());
}

}  // namespace
