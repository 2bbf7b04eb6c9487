// The tool's interchange commands end to end, on a tiny real run (Fashion-MNIST from
// Debian's dataset-fashion-mnist; skipped without it): export -> import -> predict gives the
// original model's outputs, train --init-from fine-tunes, and every bad input gives a clear
// error and leaves no output file behind.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../data/data_test_util.h"
#include "run_tool.h"

namespace fs = std::filesystem;
using wrn::testing::run_tool;

namespace {

const char* kData = "/usr/share/datasets/fashion-mnist";

class CliInterchange : public ::testing::Test {
 protected:
  static fs::path dir;
  static std::string checkpoint;

  static void SetUpTestSuite() {
    dir = fs::temp_directory_path() / ("wrn_cli_interchange_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "images");
    if (!fs::exists(fs::path(kData) / "train-images-idx3-ubyte.gz")) return;
    auto r = run_tool("train --preset demo --model wrn-10-1 --epochs 1 --set data.limit_train=256 --set data.limit_test=128 "
                      "--threads 2 --quiet --out " + (dir / "run").string());
    ASSERT_EQ(r.status, 0) << r.out;
    checkpoint = (dir / "run" / "checkpoints" / "last.ckpt").string();
    torch::manual_seed(3);
    for (int i = 0; i < 3; ++i) {
      wrn::data::testing::write_png((dir / "images" / ("img" + std::to_string(i) + ".png")).string(),
                              torch::randint(0, 256, {1, 28, 28}, torch::kUInt8));
    }
  }
  static void TearDownTestSuite() { fs::remove_all(dir); }

  void SetUp() override {
    if (checkpoint.empty()) GTEST_SKIP() << "Fashion-MNIST not installed (dataset-fashion-mnist)";
  }

  static std::string path(const std::string& name) { return (dir / name).string(); }
  static std::string predict_json(const std::string& ckpt) {
    auto r = run_tool("predict --json --top 10 --threads 1 --checkpoint " + ckpt + " " + path("images") + " 2>/dev/null");
    EXPECT_EQ(r.status, 0) << r.out;
    return r.out;
  }
};
fs::path CliInterchange::dir;
std::string CliInterchange::checkpoint;

TEST_F(CliInterchange, ExportThenImportPredictsTheSame) {
  const auto expected = predict_json(checkpoint);
  ASSERT_NE(expected.find("\"Trouser\""), std::string::npos) << "class names from the checkpoint: " << expected;

  auto r = run_tool("export --checkpoint " + checkpoint + " --format safetensors --out " + path("m.safetensors"));
  ASSERT_EQ(r.status, 0) << r.out;
  r = run_tool("export --checkpoint " + checkpoint + " --format pt --out " + path("m.pt"));
  ASSERT_EQ(r.status, 0) << r.out;

  // safetensors carries the model and the normalization in its metadata.
  r = run_tool("import --from " + path("m.safetensors") + " --out " + path("st.ckpt") + " --labels " + path("labels.txt"));
  EXPECT_NE(r.status, 0) << "labels file missing must fail";
  EXPECT_FALSE(fs::exists(path("st.ckpt")));
  {
    std::ofstream labels(path("labels.txt"));
    for (auto n : {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"})
      labels << n << "\n";
  }
  r = run_tool("import --from " + path("m.safetensors") + " --out " + path("st.ckpt") + " --labels " + path("labels.txt"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(predict_json(path("st.ckpt")), expected);

  // A plain .pt state_dict needs the model and the normalization spelled out.
  r = run_tool("import --from " + path("m.pt") + " --model wrn-10-1 --input 1x28x28 --out " + path("pt.ckpt"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--mean/--std"), std::string::npos) << r.out;
  r = run_tool("import --from " + path("m.pt") + " --model wrn-10-1 --input 1x28x28 --preset demo --out " +
               path("pt.ckpt"));
  ASSERT_EQ(r.status, 0) << r.out;
  auto got = predict_json(path("pt.ckpt"));
  // Same probabilities; without --labels the classes are named by index.
  EXPECT_EQ(got.size() > 0, true);
  EXPECT_NE(got.find("\"probability\""), std::string::npos);
  auto st_probs = [](const std::string& s) {
    std::vector<std::string> p;
    for (size_t at = s.find("\"probability\":"); at != std::string::npos; at = s.find("\"probability\":", at + 1))
      p.push_back(s.substr(at, s.find('}', at) - at));
    return p;
  };
  EXPECT_EQ(st_probs(got), st_probs(expected));

  // An existing output is not overwritten without --force.
  r = run_tool("import --from " + path("m.pt") + " --model wrn-10-1 --input 1x28x28 --preset demo --out " +
               path("pt.ckpt"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("already exists"), std::string::npos) << r.out;
}

// The graph formats are checked against their consumers in tests/infer (OpenCV DNN, torch::jit);
// here: the command writes them from a checkpoint.
TEST_F(CliInterchange, ExportsOnnxAndTorchScript) {
  for (const std::string fmt : {"onnx", "torchscript"}) {
    auto r = run_tool("export --checkpoint " + checkpoint + " --format " + fmt + " --out " + path("m." + fmt));
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("wrn-10-1 10 classes, input 1x28x28"), std::string::npos) << r.out;
    EXPECT_GT(fs::file_size(path("m." + fmt)), 10000u) << fmt;
  }
}

// safetensors, ONNX and TorchScript carry the same metadata (model, input, the preprocessing
// spec, class names), which `wrn info FILE` shows; a .pt carries none and says so.
TEST_F(CliInterchange, EveryExportCarriesThePreprocessingAndClassNames) {
  std::string preprocess_line;
  for (const std::string fmt : {"safetensors", "onnx", "torchscript"}) {
    const auto file = path("meta." + fmt);
    auto r = run_tool("export --checkpoint " + checkpoint + " --format " + fmt + " --out " + file);
    ASSERT_EQ(r.status, 0) << r.out;
    r = run_tool("info " + file);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("export     " + file + " (" + fmt + ")\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("model      wrn-10-1, 10 classes, input 1x28x28\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("classes    T-shirt/top, Trouser, Pullover,"), std::string::npos) << r.out;
    const auto at = r.out.find("preprocess 1x28x28 (grey); train: ");
    ASSERT_NE(at, std::string::npos) << r.out;
    const auto line = r.out.substr(at, r.out.find('\n', at) - at);
    EXPECT_NE(line.find("; normalize mean "), std::string::npos) << line;
    if (preprocess_line.empty()) preprocess_line = line;
    EXPECT_EQ(line, preprocess_line) << fmt;
    r = run_tool("info " + file + " --json");
    ASSERT_EQ(r.status, 0) << r.out;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("format"), fmt);
    EXPECT_EQ(j.at("metadata").at("wrn.model"), "wrn-10-1");
    EXPECT_EQ(j.at("class_names").size(), 10u);
    EXPECT_EQ("preprocess " + j.at("preprocessing").get<std::string>(), preprocess_line);
  }
  // Import without --labels keeps the export's class names (else the config's data set,
  // CIFAR-10 by default, would name them).
  auto r = run_tool("import --from " + path("meta.safetensors") + " --out " + path("meta.ckpt"));
  ASSERT_EQ(r.status, 0) << r.out;
  r = run_tool("info " + path("meta.ckpt") + " --json --threads 1");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out).at("class_names").at(1), "Trouser") << r.out;

  r = run_tool("export --checkpoint " + checkpoint + " --format pt --out " + path("meta.pt"));
  ASSERT_EQ(r.status, 0) << r.out;
  r = run_tool("info " + path("meta.pt"));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out.rfind("wrn: error: " + path("meta.pt") + ": not a wrn checkpoint", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("carries none"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  r = run_tool("export --help");
  EXPECT_NE(r.out.find("carries no preprocessing"), std::string::npos) << r.out;
}

TEST_F(CliInterchange, ImportListsEveryMismatchAndWritesNothing) {
  ASSERT_EQ(run_tool("export --checkpoint " + checkpoint + " --format pt --out " + path("mm.pt")).status, 0);
  auto r = run_tool("import --from " + path("mm.pt") + " --model wrn-16-1 --input 1x28x28 --preset demo --out " +
                    path("mm.ckpt"));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out.rfind("wrn: error: " + path("mm.pt") + ": the state dict does not fit the model: 36 missing", 0), 0u)
      << r.out;
  EXPECT_NE(r.out.find("\n  missing: layer1.1.conv1.weight\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("... and 16 more"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(path("mm.ckpt")));

  // Wrong shapes: the same depth with another width.
  r = run_tool("import --from " + path("mm.pt") + " --model wrn-10-2 --input 1x28x28 --preset demo --out " +
               path("mm.ckpt"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("wrong shape: layer1.0.conv1.weight"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(path("mm.ckpt")));
}

TEST_F(CliInterchange, BadFilesAndPathsGiveOneLineErrors) {
  // A safetensors file whose header length points past the end.
  std::string bytes(8, '\0');
  bytes[0] = char(0xff);
  bytes[1] = char(0x7f);
  bytes += "{\"a\":1}";
  wrn::data::testing::write_bytes(path("bad.safetensors"), bytes);
  auto r = run_tool("import --from " + path("bad.safetensors") + " --model wrn-10-1 --out " + path("bad.ckpt"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find(path("bad.safetensors")), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_FALSE(fs::exists(path("bad.ckpt")));

  // Not a weights file at all.
  wrn::data::testing::write_bytes(path("notes.txt"), "hello");
  r = run_tool("import --from " + path("notes.txt") + " --model wrn-10-1 --out " + path("bad.ckpt"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("not a weights file"), std::string::npos) << r.out;

  // A truncated .pt.
  ASSERT_EQ(run_tool("export --checkpoint " + checkpoint + " --format pt --out " + path("t.pt")).status, 0);
  wrn::data::testing::truncate_file(path("t.pt"), 200);
  r = run_tool("import --from " + path("t.pt") + " --model wrn-10-1 --input 1x28x28 --preset demo --out " +
               path("bad.ckpt"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find(path("t.pt")), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(path("bad.ckpt")));

  // Unwritable output, unknown format, corrupt checkpoint.
  for (const std::string fmt : {"safetensors", "pt", "onnx", "torchscript"}) {
    r = run_tool("export --checkpoint " + checkpoint + " --format " + fmt + " --out " + path("no/such/dir/m"));
    EXPECT_EQ(r.status, 1) << fmt;
    EXPECT_NE(r.out.find(path("no/such/dir/m")), std::string::npos) << r.out;
    EXPECT_FALSE(fs::exists(path("no/such/dir")));
  }
  r = run_tool("export --checkpoint " + checkpoint + " --format onnx --opset 11 --out " + path("old.onnx"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("opset"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(path("old.onnx")));
  r = run_tool("export --checkpoint " + checkpoint + " --format tflite --out " + path("m.tflite"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--format: expected one of safetensors, pt, onnx, torchscript"), std::string::npos) << r.out;
  fs::copy_file(checkpoint, path("torn.ckpt"));
  wrn::data::testing::truncate_file(path("torn.ckpt"), 1000);
  r = run_tool("export --checkpoint " + path("torn.ckpt") + " --format pt --out " + path("torn.pt"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find(path("torn.ckpt")), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(path("torn.pt")));
}

TEST_F(CliInterchange, TrainInitFromFineTunesANewClassifier) {
  ASSERT_EQ(run_tool("export --checkpoint " + checkpoint + " --format pt --out " + path("ft.pt")).status, 0);
  // Five classes: the classifier no longer fits the 10-class data's model and is re-initialized.
  auto r = run_tool("import --from " + path("ft.pt") + " --model wrn-10-1 --input 1x28x28 --classes 5 --preset demo "
                    "--out " + path("five.ckpt"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("classifier re-initialized for 5 classes"), std::string::npos) << r.out;
  const std::string base = " --preset demo --epochs 1 --set data.limit_train=128 --set data.limit_test=64 --threads 2 ";
  const std::string common = base + "--model wrn-10-1 ";
  r = run_tool("train" + common + "--init-from " + path("five.ckpt") + " --out " + path("ft_run"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("classifier re-initialized"), std::string::npos) << r.out;
  std::ifstream config(path("ft_run/config.yaml"));
  std::string text((std::istreambuf_iterator<char>(config)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("init_from: " + path("five.ckpt")), std::string::npos) << text;

  // Weights of another architecture: an error, and no run directory.
  r = run_tool("train" + base + "--model wrn-16-1 --init-from " + path("ft.pt") + " --out " + path("bad_run"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("does not fit the model"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(path("bad_run")));
}

}  // namespace
