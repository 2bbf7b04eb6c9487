// Commands on a checkpoint written by the test itself (no data set needed): `wrn info
// CHECKPOINT`, and the overwrite rule shared by the writers (export, import, train), and
// train's hint when the data set is missing.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "run_tool.h"
#include "wrn/core/atomic_file.h"
#include "wrn/models/registry.h"
#include "wrn/models/summary.h"
#include "wrn/io/checkpoint.h"
#include "wrn/io/state_dict.h"
#include "wrn/config/config.h"
#include "wrn/report/metrics_log.h"
#include "wrn/train/trainer.h"

namespace fs = std::filesystem;
using wrn::testing::run_tool;

namespace {

class CliCheckpoint : public ::testing::Test {
 protected:
  static fs::path dir;
  static std::string checkpoint;
  static int64_t params;

  // RUN/checkpoints/best.ckpt of a WRN-10-1 on Fashion-MNIST: 3 of 10 epochs done, best test
  // error 12.5% at epoch 2, and RUN/metrics.jsonl with 15% at epoch 3.
  static void SetUpTestSuite() {
    // The presets of this source tree, whatever the working directory.
    ::setenv("WRN_PRESET_DIR", WRN_SOURCE_DIR "/presets", 1);
    dir = fs::temp_directory_path() / ("wrn_cli_checkpoint_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "run" / "checkpoints");
    wrn::train::TrainConfig config;
    config.model.name = "wrn-10-1";
    config.data.kind = "fashion-mnist";
    config.epochs = 10;
    config.preset = "demo";
    wrn::models::ModelSpec spec{"wrn-10-1", 10, {1, 28, 28}, {}};
    torch::manual_seed(0);
    auto model = wrn::models::build_model(spec);
    params = wrn::models::count_parameters(*model);
    wrn::io::Checkpoint ck;
    ck.config_yaml = wrn::train::config_to_string(config);
    ck.meta_json = nlohmann::json{{"epochs_done", 3}, {"step_in_epoch", 0}, {"global_step", 30},
                                  {"best_test_error", 12.5}, {"best_epoch", 2}}.dump();
    ck.model = wrn::io::state_dict(*model);
    ck.normalizer = {torch::tensor(std::vector<double>{72.94}, torch::kFloat64),
                     torch::tensor(std::vector<double>{90.02}, torch::kFloat64)};
    checkpoint = (dir / "run" / "checkpoints" / "best.ckpt").string();
    wrn::io::save_checkpoint(checkpoint, ck);
    std::vector<wrn::train::EpochMetrics> log(3);
    for (int e = 0; e < 3; ++e) {
      log[e].epoch = e + 1;
      log[e].test_top1_err = std::vector<double>{20.0, 12.5, 15.0}[e];
    }
    wrn::train::write_metrics((dir / "run" / "metrics.jsonl").string(), log);
  }
  static void TearDownTestSuite() { fs::remove_all(dir); }
  static std::string path(const std::string& name) { return (dir / name).string(); }
};
fs::path CliCheckpoint::dir;
std::string CliCheckpoint::checkpoint;
int64_t CliCheckpoint::params = 0;

TEST_F(CliCheckpoint, InfoDescribesTheCheckpoint) {
  auto r = run_tool("info " + checkpoint + " --threads 1");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const std::string& expected : std::vector<std::string>{"checkpoint " + checkpoint + "\n", "model      wrn-10-1 (wide_resnet), 10 classes, ",
        "data       fashion-mnist, preset demo\n", "input      1x28x28\n",
        "normalize  mean 72.94 std 90.02 (0..255 scale)\n", "epochs     3 of 10 done, trained in fp32 (weights stored in fp32)\n",
        "accuracy   best test 87.50% (epoch 2, chosen on the test split), at this checkpoint 85.00%\n",
        "classes    T-shirt/top, Trouser, Pullover"}) {
    EXPECT_NE(r.out.find(expected), std::string::npos) << expected << "\n" << r.out;
  }

  r = run_tool("info " + checkpoint + " --json --threads 1");
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model"], "wrn-10-1");
  EXPECT_EQ(j["classes"], 10);
  EXPECT_EQ(j["input"], (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(j["params"].get<int64_t>(), params);
  EXPECT_GT(j["macs"].get<int64_t>(), 0);
  EXPECT_EQ(j["data"]["kind"], "fashion-mnist");
  EXPECT_EQ(j["normalization"]["mean"], std::vector<double>{72.94});
  EXPECT_EQ(j["normalization"]["std"], std::vector<double>{90.02});
  EXPECT_EQ(j["normalization"]["zca"], false);
  EXPECT_EQ(j["epochs_done"], 3);
  EXPECT_EQ(j["epochs_planned"], 10);
  EXPECT_EQ(j["trained_precision"], "fp32") << "a checkpoint without the field predates bf16";
  EXPECT_DOUBLE_EQ(j["best_test_accuracy"].get<double>(), 87.5);
  EXPECT_EQ(j["best_epoch"], 2);
  EXPECT_EQ(j["best_chosen_on"], "test");
  EXPECT_TRUE(j["best_val_accuracy"].is_null());
  EXPECT_DOUBLE_EQ(j["last_test_accuracy"].get<double>(), 85.0);

  // Away from its run directory the logged number is unknown, not invented.
  fs::copy_file(checkpoint, path("alone.ckpt"), fs::copy_options::overwrite_existing);
  r = run_tool("info " + path("alone.ckpt") + " --json --threads 1");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(nlohmann::json::parse(r.out)["last_test_accuracy"].is_null()) << r.out;

  // A file that is not a checkpoint: one line naming it.
  wrn::write_file_atomically(path("notes.txt"), "hello");
  r = run_tool("info " + path("notes.txt"));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out.rfind("wrn: error: ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(path("notes.txt")), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("not a wrn checkpoint"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
}

// --threads 100000 used to spawn threads until process IDs ran out.
TEST_F(CliCheckpoint, AbsurdThreadCountIsAOneLineErrorNamingTheOption) {
  for (const std::string n : {"100000", "-3"}) {
    auto r = run_tool("info " + checkpoint + " --threads " + n);
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_EQ(r.out.rfind("wrn: error: --threads: ", 0), 0u) << r.out;
    EXPECT_NE(r.out.find(n), std::string::npos) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  }
}

// eval --limit=-5 and --png X --no-png passed; --batch-size 0 reached LibTorch ("view size is not
// compatible ...").
TEST_F(CliCheckpoint, EvalRejectsBadOptionsInOneLineNamingTheOption) {
  for (const auto& [options, expected] : std::vector<std::pair<std::string, std::string>>{
           {"--limit=-5", "wrn: error: --limit: expected 0 (all images) or a positive count, got -5\n"},
           {"--batch-size 0", "wrn: error: --batch-size: expected a positive count, got 0\n"},
           {"--batch-size -2", "wrn: error: --batch-size: expected a positive count, got -2\n"},
           {"--png " + path("c.png") + " --no-png",
            "wrn: error: --png " + path("c.png") + " and --no-png: give one or the other\n"}}) {
    auto r = run_tool("eval --checkpoint " + checkpoint + " --threads 1 " + options);
    EXPECT_EQ(r.status, 1) << options << ": " << r.out;
    EXPECT_EQ(r.out, expected) << options;
  }
  EXPECT_FALSE(fs::exists(path("c.png")));
}

TEST_F(CliCheckpoint, WritersRefuseToOverwriteWithoutForce) {
  const std::string out = path("m.pt");
  wrn::write_file_atomically(out, "keep me");
  auto r = run_tool("export --checkpoint " + checkpoint + " --format pt --threads 1 --out " + out);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "wrn: error: --out " + out + ": already exists (use --force to overwrite)\n");
  EXPECT_EQ(wrn::read_file(out), "keep me");
  r = run_tool("export --checkpoint " + checkpoint + " --format pt --threads 1 --force --out " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(wrn::read_file(out), "keep me");

  // import: the same rule, the same words.
  const std::string ck = path("imported.ckpt");
  wrn::write_file_atomically(ck, "keep me too");
  r = run_tool("import --from " + out + " --model wrn-10-1 --input 1x28x28 --preset demo --out " + ck);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "wrn: error: --out " + ck + ": already exists (use --force to overwrite)\n");
  EXPECT_EQ(wrn::read_file(ck), "keep me too");
  r = run_tool("import --from " + out + " --model wrn-10-1 --input 1x28x28 --preset demo --force --out " + ck);
  ASSERT_EQ(r.status, 0) << r.out;

  // train --out: a directory holding a run is neither resumed nor replaced silently.
  const std::string run = (dir / "run").string();
  r = run_tool("train --preset demo --model wrn-10-1 --epochs 1 --quiet --out " + run);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out.rfind("wrn: error: --out " + run + ": already holds a run; use 'wrn resume " + run +
                            "' to continue it, --force to replace it, or another --out",
                        0),
            0u)
      << r.out;
  EXPECT_TRUE(fs::exists(checkpoint));
}

TEST_F(CliCheckpoint, TrainWithoutDataPointsAtDownload) {
  const std::string missing = path("no-cifar-here");
  const std::string out = path("c10");
  auto r = run_tool("train --preset wrn-cifar10 --data " + missing + " --out " + out);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "wrn: error: " + missing + ": no cifar10 data set here (data.dir); run 'wrn download cifar10 --dir " +
                       missing + "' (or pass --data DIR)\n");
  EXPECT_FALSE(fs::exists(out));

  // The default place ($WRN_DATA_DIR/cifar10): the plain download command.
  fs::create_directories(path("data_root"));
  ::setenv("WRN_DATA_DIR", path("data_root").c_str(), 1);
  r = run_tool("train --preset wrn-cifar10 --out " + out);
  ::unsetenv("WRN_DATA_DIR");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("; run 'wrn download cifar10' (or pass --data DIR)\n"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));

  // A directory that exists but lacks a file: the reader's error names the file, plus the hint.
  fs::create_directories(path("data_root/cifar10"));
  ::setenv("WRN_DATA_DIR", path("data_root").c_str(), 1);
  r = run_tool("train --preset wrn-cifar10 --out " + out);
  ::unsetenv("WRN_DATA_DIR");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find(path("data_root/cifar10")), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("run 'wrn download cifar10'"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
