// Commands on a checkpoint written by the test itself (no data set needed): `wrn info
// CHECKPOINT`, and the overwrite rule shared by the writers (export, import, train), and
// train's hint when the data set is missing.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <sys/wait.h>

#include <chrono>
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
#include "wrn/report/png_writer.h"
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


// ---- Issue 25: the bad inputs that hung, crashed, lost data or said too little ----

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kUnderAddressSanitizer = true;
#else
constexpr bool kUnderAddressSanitizer = false;
#endif
#else
constexpr bool kUnderAddressSanitizer = false;
#endif

// Runs `wrn ARGS` through bash with `redirect` appended (e.g. "> /dev/full"); stderr captured.
// `before` runs first in the same shell (e.g. "ulimit -v 3000000;").
wrn::testing::ToolResult run_shell(const std::string& args, const std::string& redirect,
                                   const std::string& before = "") {
  const std::string cmd = "bash -c '" + before + std::string(WRN_TOOL_PATH) + " " + args + " " + redirect + "' 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  wrn::testing::ToolResult r{-1, ""};
  if (!pipe) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  const int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool one_error_line(const wrn::testing::ToolResult& r) {
  return r.status == 1 && r.out.rfind("wrn: error: ", 0) == 0 && std::count(r.out.begin(), r.out.end(), '\n') == 1;
}

TEST_F(CliCheckpoint, WritersNeverReplaceDevicesSymlinksOrExistingOutputs) {
  // export --force onto a device node or a symlink (to /proc/self/fd/1) used to replace it.
  const std::string link = path("to-stdout.pt");
  fs::create_symlink("/proc/self/fd/1", link);
  for (const auto& [target, kind] : std::vector<std::pair<std::string, std::string>>{
           {"/dev/null", "a character device"}, {link, "a symbolic link"}, {dir.string(), "a directory"}}) {
    auto r = run_tool("export --checkpoint " + checkpoint + " --format pt --threads 1 --force --out " + target);
    EXPECT_TRUE(one_error_line(r)) << r.out;
    EXPECT_EQ(r.out, "wrn: error: --out " + target + ": is " + kind +
                         ", not a regular file; wrn replaces only regular files (give another path)\n");
  }
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_TRUE(fs::is_character_file("/dev/null"));

  // eval --predictions / --png: an existing file needs --force, a device never (refused before
  // anything is evaluated: no data set is needed to see it).
  const std::string csv = path("pred.csv"), png = path("c.png");
  wrn::write_file_atomically(csv, "keep");
  wrn::write_file_atomically(png, "keep");
  auto r = run_tool("eval --checkpoint " + checkpoint + " --threads 1 --predictions " + csv);
  EXPECT_EQ(r.out, "wrn: error: --predictions " + csv + ": already exists (use --force to overwrite)\n");
  r = run_tool("eval --checkpoint " + checkpoint + " --threads 1 --png " + png);
  EXPECT_EQ(r.out, "wrn: error: --png " + png + ": already exists (use --force to overwrite)\n");
  r = run_tool("eval --checkpoint " + checkpoint + " --threads 1 --force --predictions /dev/null");
  EXPECT_TRUE(one_error_line(r)) << r.out;
  EXPECT_NE(r.out.find("/dev/null: is a character device"), std::string::npos) << r.out;
  EXPECT_EQ(wrn::read_file(csv), "keep");
  EXPECT_EQ(wrn::read_file(png), "keep");
}

TEST_F(CliCheckpoint, TrainForceDeletesOnlyARunWrnWrote) {
  // Another project's files: config.yaml, report.md, checkpoints/*.pth.
  const auto other = dir / "other-project";
  fs::create_directories(other / "checkpoints");
  wrn::write_file_atomically((other / "config.yaml").string(), "lr: 0.1\nlayers: [1, 2]\n");
  wrn::write_file_atomically((other / "report.md").string(), "# mine");
  wrn::write_file_atomically((other / "checkpoints" / "model.pth").string(), "weights");
  auto r = run_tool("train --preset demo --epochs 1 --quiet --force --out " + other.string());
  EXPECT_TRUE(one_error_line(r)) << r.out;
  EXPECT_NE(r.out.find("not a wrn run"), std::string::npos) << r.out;
  EXPECT_EQ(wrn::read_file((other / "config.yaml").string()), "lr: 0.1\nlayers: [1, 2]\n");
  EXPECT_EQ(wrn::read_file((other / "report.md").string()), "# mine");
  EXPECT_EQ(wrn::read_file((other / "checkpoints" / "model.pth").string()), "weights");

  // --out that is a file, and a path too long for the run's files: refused, nothing created.
  r = run_tool("train --preset demo --epochs 1 --quiet --out " + checkpoint);
  EXPECT_TRUE(one_error_line(r)) << r.out;
  EXPECT_EQ(r.out, "wrn: error: --out " + checkpoint + ": is a regular file, expected a run directory\n");
  std::string long_out = path("deep");
  while (long_out.size() < 4070) long_out += "/abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz";
  r = run_tool("train --preset demo --epochs 1 --quiet --out " + long_out);
  EXPECT_TRUE(one_error_line(r)) << r.out;
  EXPECT_NE(r.out.find("the run's files would not fit"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(path("deep")));
}

TEST_F(CliCheckpoint, OptionsGivenTwiceOrEmptyAreOneLineErrors) {
  auto r = run_tool("info wrn-10-1 --threads 1 --threads 2");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out.rfind("wrn: error: --threads: given 2 times; give it once", 0), 0u) << r.out;
  r = run_tool("train --preset demo --model '' --out " + path("empty-model"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("--model: an empty value"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(path("empty-model")));
}

TEST_F(CliCheckpoint, HugeInputsAreRefusedBeforeTheyAreAllocated) {
  // info used to die by SIGSEGV (the MACs counter read the outputs of an op that failed to
  // allocate); predict ran to 7.5 GB and on.
  auto r = run_tool("info wrn-10-1 --threads 1 --input 1x20000x20000");
  EXPECT_TRUE(one_error_line(r)) << r.out;
  EXPECT_NE(r.out.find("input 1x20000x20000: a forward of 1 image(s) of this size needs about"), std::string::npos)
      << r.out;
  r = run_tool("info wrn-10-1 --threads 1 --input 1x70000x70000");
  EXPECT_TRUE(one_error_line(r)) << r.out;
  EXPECT_NE(r.out.find("beyond the sizes wrn handles"), std::string::npos) << r.out;
  r = run_tool("export --checkpoint " + checkpoint + " --format onnx --threads 1 --input 1x20000x20000 --out " +
               path("huge.onnx"));
  EXPECT_TRUE(one_error_line(r)) << r.out;
  EXPECT_FALSE(fs::exists(path("huge.onnx")));
  // Under a 3 GB address-space limit (most of it taken by LibTorch's libraries): the same line.
  // (Not under AddressSanitizer, whose shadow memory alone is far beyond such a limit.)
  if (!kUnderAddressSanitizer) {
    r = run_shell("info wrn-10-1 --threads 1 --input 3x6000x6000", "", "ulimit -v 3000000; ");
    EXPECT_TRUE(one_error_line(r)) << r.out;
    EXPECT_NE(r.out.find("input 3x6000x6000: a forward of 1 image(s) of this size needs about 14.3 GB"),
              std::string::npos)
        << r.out;
  }
  // deepening=100000000 printed std::bad_alloc after 20 s and 3.9 GB (and a 200 MB message).
  r = run_tool("info wrn-10-1 --set deepening=100000000");
  EXPECT_TRUE(one_error_line(r)) << r.out;
  EXPECT_LT(r.out.size(), 300u) << r.out.substr(0, 300);
}

TEST_F(CliCheckpoint, LostStandardOutputIsAnError) {
  auto r = run_shell("info wrn-10-1 --threads 1", "> /dev/full");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("wrn: error: standard output: cannot write"), std::string::npos) << r.out;
  r = run_shell("info wrn-10-1 --threads 1", ">&-");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("wrn: error: standard output is closed"), std::string::npos) << r.out;
}

TEST_F(CliCheckpoint, PredictNamesASymlinkLoopAndGoesOn) {
  const auto images = dir / "images";
  fs::create_directories(images);
  wrn::train::write_png((images / "a.png").string(), wrn::train::RgbImage(28, 28, 10, 20, 30));
  fs::create_symlink("loop.png", images / "loop.png");  // points at itself
  auto r = run_tool("predict --checkpoint " + checkpoint + " --threads 1 --top 1 " + images.string());
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find((images / "a.png").string() + "\n"), std::string::npos) << r.out;  // predicted
  EXPECT_NE(r.out.find((images / "loop.png").string()), std::string::npos) << r.out;        // named
  EXPECT_EQ(r.out.find("filesystem error"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 of 2 images could not be read"), std::string::npos) << r.out;
}

TEST_F(CliCheckpoint, ConfigsAreBoundedAndAliasesAreCheckedOnce) {
  // A 570-byte file of ten nested aliases (10^10 nodes expanded) took forever in the
  // duplicate-key check; now it is walked once per node.
  const std::string bomb = WRN_SOURCE_DIR "/tests/fuzz/regressions/config/alias_bomb.yaml";
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_tool("train --config " + bomb + " --print-config");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  EXPECT_TRUE(one_error_line(r)) << r.out.substr(0, 500);
  EXPECT_NE(r.out.find("unknown key 'a0'"), std::string::npos) << r.out.substr(0, 500);

  // A duplicate key inside an anchored mapping is still found.
  const std::string dup = path("dup.yaml");
  wrn::write_file_atomically(dup, "model: &m\n  name: wrn-10-1\n  name: wrn-16-4\ndata: {kind: fashion-mnist}\n");
  r = run_tool("train --config " + dup + " --print-config");
  EXPECT_NE(r.out.find("duplicate key 'model.name'"), std::string::npos) << r.out;

  // Over 1 MiB, a 20,000-element list, a 5,000-character string: one line each.
  const std::string big = path("big.yaml");
  wrn::write_file_atomically(big, "description: x\n" + std::string(1100000, '#') + "\n");
  r = run_tool("train --config " + big + " --print-config");
  EXPECT_TRUE(one_error_line(r)) << r.out;
  EXPECT_NE(r.out.find("bytes, expected at most 1048576 (1 MiB)"), std::string::npos) << r.out;
  std::string list = "schedule:\n  milestones: [";
  for (int i = 1; i <= 20000; ++i) list += std::to_string(i) + (i < 20000 ? "," : "]\n");
  const std::string long_list = path("list.yaml");
  wrn::write_file_atomically(long_list, list);
  r = run_tool("train --config " + long_list + " --print-config");
  EXPECT_EQ(r.out, "wrn: error: config: 'schedule.milestones' has 20000 values, expected at most 10000\n");
  r = run_tool("train --preset demo --print-config --set description=" + std::string(5000, 'd'));
  EXPECT_EQ(r.out, "wrn: error: config: 'description' is 5000 characters long, expected at most 4096\n");
}

TEST_F(CliCheckpoint, ConfigMistakesAreCaughtAtTheStartNamingTheKey) {
  // batch_size 1 trained no step and then reported "training diverged: loss -nan".
  auto r = run_tool("train --preset demo --set data.batch_size=1 --print-config");
  EXPECT_EQ(r.out, "wrn: error: config: 'data.batch_size' must be >= 2, got 1\n");
  // data.channels=3 on a one-channel preset said "normalizer: 1 mean values for 3 channels".
  r = run_tool("train --preset demo --set data.channels=3 --print-config");
  EXPECT_TRUE(one_error_line(r)) << r.out;
  EXPECT_NE(r.out.find("'data.normalize.mean' and 'data.normalize.std' have 1 values for 'data.channels' 3"),
            std::string::npos)
      << r.out;
}

}  // namespace
