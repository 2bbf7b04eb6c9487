// TorchScript export: the scripted module, loaded back with torch::jit::load, gives the
// model's eval() logits for every family, at any batch size and image size.
#include <gtest/gtest.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
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

// The export metadata (wrn.preprocessing, wrn.class_names, ...) in extra/wrn.json and in the
// wrn_metadata attribute, read back as Python and C++ users read them.
TEST(TorchScriptExport, CarriesTheExportMetadataInExtraFilesAndAnAttribute) {
  const InputShape input{3, 40, 48};
  auto model = make_model("wrn-10-1", {}, input);
  const auto spec = wrn::test::sample_preprocessing();
  const std::map<std::string, std::string> metadata = {{"wrn.model", "wrn-10-1"},
                                                       {"wrn.classes", "10"},
                                                       {"wrn.input", input.str()},
                                                       {"wrn.preprocessing", spec.to_json()},
                                                       {"wrn.class_names", R"(["a","b \"c\"","d"])"}};
  TempDir dir("wrn-ts-meta");
  const std::string path = dir.file("model.ts");
  wrn::infer::export_torchscript(model, input, path, metadata);

  torch::jit::ExtraFilesMap extra{{"wrn.json", ""}};
  auto loaded = torch::jit::load(path, c10::nullopt, extra);
  const auto j = nlohmann::json::parse(extra["wrn.json"]);
  EXPECT_EQ(j.at("family"), "wide_resnet");
  EXPECT_EQ(j.at("input"), "3x40x48");
  for (const auto& [k, v] : metadata) EXPECT_EQ(j.at(k).get<std::string>(), v) << k;
  EXPECT_EQ(wrn::data::Preprocessing::from_json(j.at("wrn.preprocessing").get<std::string>(), path), spec);

  std::map<std::string, std::string> attr;
  for (const auto& e : loaded.attr("wrn_metadata").toGenericDict())
    attr[e.key().toStringRef()] = e.value().toStringRef();
  EXPECT_EQ(attr, metadata);

  auto read = wrn::infer::read_torchscript_metadata(path);
  EXPECT_EQ(read.at("family"), "wide_resnet");
  for (const auto& [k, v] : metadata) EXPECT_EQ(read.at(k), v) << k;

  // Still the model: the metadata changes nothing in forward.
  auto x = torch::randn({2, 3, 40, 48});
  torch::NoGradGuard no_grad;
  EXPECT_LT(rel_err(loaded.forward({x}).toTensor(), model->forward(x)), 1e-4);

  // Not an archive: one line naming the file.
  const std::string bad = dir.file("bad.ts");
  wrn::write_file_atomically(bad, std::string("not a zip"));
  try {
    wrn::infer::read_torchscript_metadata(bad);
    ADD_FAILURE() << "no error for " << bad;
  } catch (const wrn::FileError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(bad + ": ", 0), 0u) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
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
