// ONNX export against an independent runtime: every family and some Identity Mappings
// ablations are exported, checked with onnx::checker, loaded with OpenCV's dnn module
// (cv::dnn::readNetFromONNX) and run on random images; the logits must match the model's own
// eval() forward. BN statistics are randomized so that a folding mistake shows.
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <string>
#include <vector>

#include "export_test_util.h"
#include "opencv_test_util.h"
#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/infer/onnx_export.h"
#include "wrn/infer/torchscript_export.h"
#include "wrn/models/preact_resnet.h"
#include "wrn/models/resnet.h"

namespace {

using wrn::infer::export_onnx;
using wrn::infer::OnnxExportOptions;
using wrn::models::Classifier;
using wrn::models::InputShape;
using wrn::test::load_opencv_net;
using wrn::test::make_model;
using wrn::test::run_opencv;
using wrn::test::rel_err;
using wrn::test::TempDir;

torch::Tensor expected_logits(const Classifier& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return model->forward(x);
}

onnx::ModelProto read_proto(const std::string& path) {
  onnx::ModelProto proto;
  const std::string bytes = wrn::read_file(path);
  EXPECT_TRUE(proto.ParseFromString(bytes)) << path;
  return proto;
}

// The structure every export promises: checker-valid, opset >= 13, "input" [batch, C, H, W]
// and "logits" [batch, classes] with a symbolic batch.
void check_structure(const std::string& path, const InputShape& input, int64_t classes, int64_t opset) {
  const auto proto = read_proto(path);
  EXPECT_NO_THROW(onnx::checker::check_model(proto)) << path;
  ASSERT_EQ(proto.opset_import_size(), 1);
  EXPECT_EQ(proto.opset_import(0).domain(), "");
  EXPECT_EQ(proto.opset_import(0).version(), opset);
  EXPECT_GE(proto.opset_import(0).version(), 13);
  const auto& g = proto.graph();
  ASSERT_EQ(g.input_size(), 1);
  ASSERT_EQ(g.output_size(), 1);
  EXPECT_EQ(g.input(0).name(), "input");
  EXPECT_EQ(g.output(0).name(), "logits");
  const auto& in = g.input(0).type().tensor_type();
  EXPECT_EQ(in.elem_type(), onnx::TensorProto::FLOAT);
  ASSERT_EQ(in.shape().dim_size(), 4);
  EXPECT_EQ(in.shape().dim(0).dim_param(), "batch");
  EXPECT_FALSE(in.shape().dim(0).has_dim_value());
  EXPECT_EQ(in.shape().dim(1).dim_value(), input.channels);
  EXPECT_EQ(in.shape().dim(2).dim_value(), input.height);
  EXPECT_EQ(in.shape().dim(3).dim_value(), input.width);
  const auto& out = g.output(0).type().tensor_type();
  ASSERT_EQ(out.shape().dim_size(), 2);
  EXPECT_EQ(out.shape().dim(0).dim_param(), "batch");
  EXPECT_EQ(out.shape().dim(1).dim_value(), classes);
  // Evaluation graph: no Dropout or BatchNormalization-in-training left.
  for (const auto& n : g.node()) EXPECT_NE(n.op_type(), "Dropout") << path;
}

// Exports, checks the structure, runs batch 2 and batch 3 in OpenCV; returns the worst
// relative error.
double check_model(const std::string& label, const Classifier& model, const InputShape& input,
                   const OnnxExportOptions& options = {}) {
  TempDir dir("wrn-onnx");
  const std::string path = dir.file("model.onnx");
  export_onnx(model, input, path, options);
  check_structure(path, input, model->num_classes(), options.opset);

  cv::dnn::Net net = load_opencv_net(path);
  double worst = 0.0;
  // Batch 2, then batch 3 on the same Net: the batch dimension is dynamic at run time.
  for (int64_t batch : {2, 3}) {
    auto x = torch::randn({batch, input.channels, input.height, input.width});
    const auto expected = expected_logits(model, x);
    const auto got = run_opencv(net, x);
    EXPECT_EQ(got.sizes(), expected.sizes()) << label << " batch " << batch;
    if (got.sizes() != expected.sizes()) return 1.0;
    const double err = rel_err(got, expected);
    EXPECT_LT(err, 1e-4) << label << " batch " << batch;
    worst = std::max(worst, err);
  }
  std::printf("[ onnx/opencv ] %-48s max rel err %.3g\n", label.c_str(), worst);
  return worst;
}

struct Case {
  std::string name;
  std::vector<std::string> settings;
  InputShape input;
};

void run_case(const Case& c) {
  auto model = make_model(c.name, c.settings, c.input);
  std::string label = c.name;
  for (const auto& s : c.settings) label += " " + s;
  check_model(label + " " + c.input.str(), model, c.input);
}

TEST(OnnxInterop, CifarResNetZeroPadShortcuts) { run_case({"resnet20", {}, {3, 32, 32}}); }

TEST(OnnxInterop, TorchvisionBottleneckResNet50) { run_case({"resnet50", {}, {3, 64, 64}}); }

TEST(OnnxInterop, GroupedConvolutionResNeXt50) { run_case({"resnext50_32x4d", {}, {3, 64, 64}}); }

TEST(OnnxInterop, PreActBottleneck164) { run_case({"preact_resnet164", {}, {3, 32, 32}}); }

TEST(OnnxInterop, PreActSeedCodeZeroPadNoFinalBn) { run_case({"preact_resnet18", {}, {3, 32, 32}}); }

TEST(OnnxInterop, PreActImageNetStem) {
  // The ImageNet stem of preact_resnet152/200 (conv, BN, ReLU, max-pool), at a small depth.
  torch::manual_seed(5);
  auto model = std::make_shared<wrn::models::PreActResNetImpl>(wrn::models::PreActResNetOptions()
                                                                   .layers({1, 1, 1, 1})
                                                                   .planes({16, 32, 64, 128})
                                                                   .stem(wrn::models::Stem::ImageNet)
                                                                   .num_classes(7));
  wrn::test::randomize_statistics(*model);
  model->eval();
  check_model("preact imagenet stem 1,1,1,1 3x64x64", model, {3, 64, 64});
}

TEST(OnnxInterop, WideResNetWithDropoutInEval) {
  run_case({"wrn-16-2", {"dropout=0.3"}, {3, 32, 32}});
  run_case({"wrn-10-2", {}, {1, 28, 28}});
}

TEST(OnnxInterop, IdentityMappingsAblations) {
  for (const auto& c : std::vector<Case>{
           {"resnet20", {"shortcut_variant=exclusive_gating"}, {3, 32, 32}},
           {"resnet20", {"shortcut_variant=shortcut_only_gating"}, {3, 32, 32}},
           {"resnet20", {"shortcut_variant=constant_scaling"}, {3, 32, 32}},
           {"resnet20", {"shortcut=B", "shortcut_variant=conv1x1"}, {3, 32, 32}},
           {"resnet20", {"shortcut_variant=dropout"}, {3, 32, 32}},
           {"resnet20", {"activation=bn_after_addition"}, {3, 32, 32}},
           {"resnet20", {"activation=relu_before_addition"}, {3, 32, 32}},
           {"resnet20", {"activation=relu_only_preact"}, {3, 32, 32}},
           {"resnet20", {"activation=full_preact"}, {3, 32, 32}},
       }) {
    run_case(c);
  }
}

TEST(OnnxInterop, UnfoldedBatchNormsAndNewerOpset) {
  auto model = make_model("wrn-16-2", {}, {3, 32, 32});
  OnnxExportOptions options;
  options.fold_batchnorm = false;
  options.opset = 17;
  options.producer_version = "test";
  check_model("wrn-16-2 unfolded opset 17", model, {3, 32, 32}, options);
}

TEST(OnnxExport, RejectsBadOptionsAndShapes) {
  auto model = make_model("resnet20", {}, {3, 32, 32});
  OnnxExportOptions options;
  options.opset = 12;
  EXPECT_THROW(wrn::infer::encode_onnx(model, {3, 32, 32}, options), wrn::ConfigError);
  EXPECT_THROW(wrn::infer::encode_onnx(model, {1, 32, 32}), wrn::ConfigError);
  EXPECT_THROW(wrn::infer::encode_onnx(nullptr, {3, 32, 32}), wrn::ConfigError);
  EXPECT_TRUE(wrn::infer::onnx_export_available());
}

TEST(OnnxExport, UnwritablePathThrowsFileErrorAndLeavesNothing) {
  auto model = make_model("resnet20", {}, {3, 32, 32});
  TempDir dir("wrn-onnx-err");
  // A directory that cannot exist: its parent is a regular file (root ignores permissions).
  const std::string blocker = dir.file("not_a_dir");
  wrn::write_file_atomically(blocker, std::string("x"));
  for (const std::string& path : {blocker + "/model.onnx", dir.file("missing/model.onnx")}) {
    try {
      export_onnx(model, {3, 32, 32}, path);
      ADD_FAILURE() << "no error for " << path;
    } catch (const wrn::FileError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(wrn::test::list_dir(dir.path), std::vector<std::string>{"not_a_dir"});
  // A successful export replaces an existing file whole.
  const std::string good = dir.file("model.onnx");
  wrn::write_file_atomically(good, std::string("old"));
  export_onnx(model, {3, 32, 32}, good);
  EXPECT_EQ(wrn::read_file(good), wrn::infer::encode_onnx(model, {3, 32, 32}));
}

// The export metadata as ModelProto.metadata_props (field 14, key/value pairs), each key once,
// read back by the protobuf classes and by read_onnx_metadata.
TEST(OnnxExport, CarriesTheExportMetadataAsMetadataProps) {
  const InputShape input{3, 40, 48};
  auto model = make_model("wrn-10-1", {}, input);
  const auto spec = wrn::test::sample_preprocessing();
  OnnxExportOptions options;
  options.metadata = {{"wrn.model", "wrn-10-1"},
                      {"wrn.classes", "10"},
                      {"wrn.input", input.str()},
                      {"wrn.preprocessing", spec.to_json()},
                      {"wrn.class_names", R"(["a","b \"c\"","d"])"}};
  TempDir dir("wrn-onnx-meta");
  const std::string path = dir.file("model.onnx");
  export_onnx(model, input, path, options);
  check_structure(path, input, 10, 13);

  const auto proto = read_proto(path);
  std::map<std::string, std::string> props;
  for (const auto& kv : proto.metadata_props()) {
    EXPECT_TRUE(props.emplace(kv.key(), kv.value()).second) << "twice: " << kv.key();
  }
  EXPECT_EQ(props.at("wrn.family"), "wide_resnet");
  for (const auto& [k, v] : options.metadata) EXPECT_EQ(props.at(k), v) << k;
  EXPECT_EQ(props.size(), options.metadata.size() + 1);
  EXPECT_EQ(wrn::data::Preprocessing::from_json(props.at("wrn.preprocessing"), path), spec);
  EXPECT_EQ(wrn::infer::read_onnx_metadata(path), props);

  // Without metadata: the family and the input, as before.
  const auto plain = dir.file("plain.onnx");
  export_onnx(model, input, plain);
  EXPECT_EQ(wrn::infer::read_onnx_metadata(plain),
            (std::map<std::string, std::string>{{"wrn.family", "wide_resnet"}, {"wrn.input", "3x40x48"}}));

  // Not an ONNX model: one line naming the file.
  const std::string bad = dir.file("bad.onnx");
  wrn::write_file_atomically(bad, std::string("hello"));
  for (const auto& p : {bad, dir.file("missing.onnx")}) {
    try {
      wrn::infer::read_onnx_metadata(p);
      ADD_FAILURE() << "no error for " << p;
    } catch (const wrn::FileError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(p), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
}

// Developer check with Python (scripts/check_exports.py): with WRN_EXPORT_CHECK_DIR set,
// writes <name>.onnx, <name>.ts and expected.json (input and logits) for a few models.
TEST(ExportFilesForPython, WritesOnnxTorchScriptAndLogits) {
  const char* out = std::getenv("WRN_EXPORT_CHECK_DIR");
  if (out == nullptr || *out == '\0') GTEST_SKIP() << "set WRN_EXPORT_CHECK_DIR to write the files";
  std::filesystem::create_directories(out);
  nlohmann::json models = nlohmann::json::array();
  for (const auto& c : std::vector<Case>{
           {"resnet20", {}, {3, 32, 32}},
           {"wrn-16-2", {"dropout=0.3"}, {3, 32, 32}},
           {"preact_resnet164", {}, {3, 32, 32}},
           {"resnet20", {"shortcut_variant=exclusive_gating"}, {3, 32, 32}},
           {"resnet20", {"activation=bn_after_addition"}, {3, 32, 32}},
       }) {
    auto model = make_model(c.name, c.settings, c.input);
    std::string stem = c.name;
    for (const auto& s : c.settings) stem += "_" + s.substr(s.find('=') + 1);
    const auto dir = std::filesystem::path(out);
    export_onnx(model, c.input, (dir / (stem + ".onnx")).string());
    wrn::infer::export_torchscript(model, c.input, (dir / (stem + ".ts")).string());
    torch::manual_seed(2);
    auto x = torch::randn({2, c.input.channels, c.input.height, c.input.width});
    auto y = expected_logits(model, x).contiguous();
    auto flat = [](const torch::Tensor& t) {
      auto f = t.flatten().contiguous();
      return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
    };
    models.push_back({{"name", stem},
                      {"onnx", stem + ".onnx"},
                      {"torchscript", stem + ".ts"},
                      {"input_shape", x.sizes().vec()},
                      {"input", flat(x)},
                      {"logits_shape", y.sizes().vec()},
                      {"logits", flat(y)}});
  }
  wrn::write_file_atomically((std::filesystem::path(out) / "expected.json").string(),
                             nlohmann::json{{"models", models}}.dump());
}

}  // namespace
