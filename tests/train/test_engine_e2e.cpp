// End-to-end tests of the training engine through the built `wrn` binary (WRN_TOOL_PATH):
//  - a run SIGKILLed in the middle of an epoch and resumed ends bitwise identical (weights,
//    optimizer state, metrics) to the same run left alone, in fp32 and in bf16 (bf16 runs on
//    any CPU: in hardware with AMX/AVX-512-BF16, slowly in software otherwise);
//  - SIGTERM stops a run at a step with a checkpoint (exit 143); the resumed run is bitwise the same;
//  - a diverging run (absurd lr) stops with a diagnostic and keeps the last good checkpoint;
//  - `wrn eval` reproduces the run's test error;
//  - two epochs (~2.5 min on 2 cores) of a small WRN on the full Fashion-MNIST reach >= 85% test
//    accuracy (one epoch lands at ~85.7%, too close to the bar to be a stable check).
// They need Debian's dataset-fashion-mnist and are skipped without it.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "e2e_util.h"
#include "../report/report_readers.h"
#include "wrn/core/atomic_file.h"
#include "wrn/io/checkpoint.h"
#include "wrn/report/metrics_log.h"

namespace fs = std::filesystem;
using namespace wrn::train;
using namespace wrn::io;
using wrn::test::comparable;
using wrn::test::expect_bitwise_equal;
using wrn::test::run;
using wrn::test::slurp;
using wrn::test::spawn;
using wrn::test::wait_exit;

namespace {

const char* kData = "/usr/share/datasets/fashion-mnist";

bool have_data() { return fs::exists(fs::path(kData) / "train-images-idx3-ubyte.gz"); }

std::string scratch(const std::string& name) { return wrn::test::scratch("wrn_e2e_", name); }

// Every option beyond the 2016 recipes at once (issue 12): each draws from the generators or
// keeps state that a resume must restore.
const std::vector<std::string> kModernRecipe{
    "loss.label_smoothing=0.1",   "data.augment.cutout.size=8", "data.augment.erasing.p=0.5",
    "data.augment.erasing.random_fill=true", "mix.mixup_alpha=0.2", "mix.cutmix_alpha=1.0", "mix.prob=0.8",
    "ema.decay=0.99",             "optimizer.type=adamw",        "optimizer.lr=0.003",
    "optimizer.weight_decay=0.05", "optimizer.no_decay_bn_bias=true", "optimizer.clip_grad_norm=2",
    "log_every_steps=4"};

// The small, quick, dropout-using run shared by the resume tests. `variant`: a precision, or
// "fp32-modern" for fp32 with kModernRecipe.
std::vector<std::string> tiny_run(const std::string& out, const std::string& variant = "fp32") {
  const bool modern = variant == "fp32-modern";
  std::vector<std::string> args{
      "train", "--precision", modern ? "fp32" : variant, "--preset", "demo", "--model", "wrn-10-1", "--set", "model.settings.dropout=0.2",
      "--set", "data.limit_train=600", "--set", "data.limit_test=300", "--batch-size", "20",
      "--set", "checkpoint.every_steps=3", "--set", "checkpoint.every_seconds=0", "--set", "channels_last=false",
      "--epochs", "3", "--seed", "11", "--threads", "2", "--data", kData, "--quiet", "--out", out};
  if (modern)
    for (const auto& s : kModernRecipe) args.insert(args.end(), {"--set", s});
  return args;
}

}  // namespace

class EngineResume : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineResume, KilledMidEpochAndResumedIsBitwiseIdentical) {
  if (!have_data()) GTEST_SKIP() << "Fashion-MNIST not installed (dataset-fashion-mnist)";
  const std::string variant = GetParam();
  const bool modern = variant == "fp32-modern";
  const std::string precision = modern ? "fp32" : variant;
  const auto ref = scratch("ref-" + variant), killed = scratch("killed-" + variant);
  ASSERT_EQ(run(tiny_run(ref, variant), ref + ".log"), 0) << slurp(ref + ".log");

  // Kill the second run in the middle of epoch 2, right after a mid-epoch checkpoint.
  pid_t pid = spawn(tiny_run(killed, variant), killed + ".log");
  const auto last = killed + "/checkpoints/last.ckpt";
  bool mid_epoch = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (!mid_epoch && std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) FAIL() << "the run ended before it could be killed";
    try {
      auto meta = nlohmann::json::parse(load_checkpoint(last).meta_json);
      mid_epoch = meta.at("epochs_done") == 1 && meta.at("step_in_epoch").get<int>() >= 6;
    } catch (const std::exception&) {
      // not written yet
    }
    if (!mid_epoch) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(mid_epoch) << "no mid-epoch checkpoint appeared";
  kill(pid, SIGKILL);
  EXPECT_EQ(wait_exit(pid), 128 + SIGKILL);
  auto at_kill = nlohmann::json::parse(load_checkpoint(last).meta_json);
  EXPECT_EQ(at_kill.at("epochs_done"), 1) << "the kill must land inside epoch 2";
  EXPECT_GT(at_kill.at("step_in_epoch").get<int>(), 0);
  EXPECT_LT(read_metrics(killed + "/metrics.jsonl").size(), 3u);

  ASSERT_EQ(run({"resume", killed, "--quiet"}, killed + ".resume.log"), 0) << slurp(killed + ".resume.log");

  auto a = load_checkpoint(ref + "/checkpoints/last.ckpt");
  auto b = load_checkpoint(last);
  expect_bitwise_equal(a.model, b.model, "model");
  expect_bitwise_equal(a.optimizer, b.optimizer, "optimizer");
  expect_bitwise_equal(a.rng, b.rng, "generators");
  auto ma = read_metrics(ref + "/metrics.jsonl"), mb = read_metrics(killed + "/metrics.jsonl");
  ASSERT_EQ(ma.size(), 3u);
  EXPECT_EQ(comparable(ma), comparable(mb));
  // One TensorBoard file after the resume, each epoch's points once.
  std::vector<fs::path> event_files;
  for (const auto& e : fs::directory_iterator(killed))
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0) event_files.push_back(e.path());
  ASSERT_EQ(event_files.size(), 1u);
  std::map<std::string, std::vector<int64_t>> steps_of;
  for (const auto& ev : wrn::train::read_tensorboard_events(event_files[0].string()))
    for (const auto& [tag, v] : ev.values) steps_of[tag].push_back(ev.step);
  EXPECT_EQ(steps_of["test/top1_err"], (std::vector<int64_t>{1, 2, 3}));
  if (modern) {
    ASSERT_FALSE(a.ema.empty()) << "the weight average is checkpointed";
    expect_bitwise_equal(a.ema, b.ema, "weight average");
    expect_bitwise_equal(a.running, b.running, "running sums and ema_updates");
    auto sa = read_step_metrics(ref + "/steps.jsonl"), sb = read_step_metrics(killed + "/steps.jsonl");
    ASSERT_EQ(sa.size(), 3u * 30 / 4);  // 30 steps an epoch, a record every 4th global step
    ASSERT_EQ(sa.size(), sb.size());
    for (size_t i = 0; i < sa.size(); ++i) {
      EXPECT_EQ(sa[i].step, sb[i].step);
      EXPECT_EQ(sa[i].loss, sb[i].loss) << "step " << sa[i].step;
    }
    EXPECT_EQ(steps_of["step/loss"].size(), sa.size());
    const auto log = slurp(ref + ".log");
    const auto config = slurp(ref + "/config.yaml");
    for (const char* key : {"label_smoothing: 0.1", "cutmix_alpha: 1", "decay: 0.99", "type: adamw"})
      EXPECT_NE(config.find(key), std::string::npos) << key << " in\n" << config;
  }
  for (const char* f : {"config.yaml", "curves.png", "report.md", "checkpoints/best.ckpt"})
    EXPECT_TRUE(fs::exists(fs::path(killed) / f)) << f;
  // It learns, and says in which precision, everywhere a run is recorded.
  EXPECT_LT(ma.back().train_loss, ma.front().train_loss);
  EXPECT_NE(slurp(killed + "/config.yaml").find("precision: " + precision), std::string::npos);
  EXPECT_NE(slurp(killed + "/report.md").find("| precision | " + precision), std::string::npos)
      << slurp(killed + "/report.md");
  EXPECT_EQ(nlohmann::json::parse(b.meta_json).at("precision"), precision);
  // Checkpoints hold the float32 master weights in any precision.
  for (const auto& t : b.model) {
    if (t.value.is_floating_point()) {
      EXPECT_EQ(t.value.scalar_type(), torch::kFloat) << t.name;
    }
  }

  // wrn eval of the final checkpoint (same precision) reproduces the last epoch's test error.
  ASSERT_EQ(run({"eval", "--checkpoint", ref + "/checkpoints/last.ckpt", "--json", "--threads", "2", "--precision",
                 precision},
                ref + ".eval"),
            0)
      << slurp(ref + ".eval");
  auto text = slurp(ref + ".eval");
  auto j = nlohmann::json::parse(text.substr(text.find('{')));
  EXPECT_NEAR(j.at("top1_err").get<double>(), ma.back().test_top1_err, 1e-9);
  EXPECT_EQ(j.at("confusion").size(), 10u);
  EXPECT_TRUE(fs::exists(fs::path(ref) / "confusion.png"));
  EXPECT_EQ(j.at("precision"), precision);
}

INSTANTIATE_TEST_SUITE_P(Precisions, EngineResume, ::testing::Values("fp32", "bf16", "fp32-modern"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// The top-1 classes of a `wrn eval --predictions` CSV (index,label,predicted).
std::vector<int> predicted_classes(const std::string& csv_path) {
  std::vector<int> out;
  std::istringstream in(slurp(csv_path));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) out.push_back(std::stoi(line.substr(line.rfind(',') + 1)));
  return out;
}

TEST(EngineE2E, Bf16EvalAgreesWithFp32OnNearlyEveryImageInBothPaths) {
  if (!have_data()) GTEST_SKIP() << "Fashion-MNIST not installed (dataset-fashion-mnist)";
  const auto out = scratch("agree");
  auto args = tiny_run(out, "fp32");
  ASSERT_EQ(run(args, out + ".log"), 0) << slurp(out + ".log");
  const auto ck = out + "/checkpoints/last.ckpt";
  std::map<std::string, std::vector<int>> preds;
  for (std::string precision : {"fp32", "bf16"}) {
    for (bool optimized : {false, true}) {
      const std::string key = precision + (optimized ? " optimized" : " plain");
      const std::string csv = out + "/" + precision + (optimized ? "-opt" : "-plain") + ".csv";
      std::vector<std::string> eval = {"eval", "--checkpoint", ck, "--precision", precision, "--predictions", csv,
                                       "--no-png", "--threads", "2"};
      if (optimized) eval.push_back("--optimized");
      ASSERT_EQ(run(eval, csv + ".log"), 0) << slurp(csv + ".log");
      preds[key] = predicted_classes(csv);
      ASSERT_EQ(preds[key].size(), 300u) << key;
    }
  }
  auto agreement = [&](const std::string& a, const std::string& b) {
    int same = 0;
    for (size_t i = 0; i < preds[a].size(); ++i) same += preds[a][i] == preds[b][i];
    return double(same) / double(preds[a].size());
  };
  // fp32: folding BN changes only float rounding. bf16: a few near-ties may flip (the demo
  // model agrees on 99.9%, README); 97% on 300 images of this 3-epoch model.
  EXPECT_GE(agreement("fp32 plain", "fp32 optimized"), 0.995);
  EXPECT_GE(agreement("fp32 plain", "bf16 plain"), 0.97);
  EXPECT_GE(agreement("fp32 plain", "bf16 optimized"), 0.97);
}

// channels_last: auto (issue 23): both layouts are timed when the run starts, the start-up
// line says which won and by how much, config.yaml keeps the choice (so resume and evaluation
// use it), and the measurement touches nothing of the run: trained with the choice given
// explicitly, the same seed gives the same weights, bit for bit.
TEST(EngineE2E, ChannelsLastAutoMeasuresOnceAndTrainsLikeItsChoice) {
  if (!have_data()) GTEST_SKIP() << "Fashion-MNIST not installed (dataset-fashion-mnist)";
  const auto automatic = scratch("layout-auto"), given = scratch("layout-given");
  auto with_layout = [](std::vector<std::string> args, const std::string& value) {
    *std::find(args.begin(), args.end(), "channels_last=false") = "channels_last=" + value;
    args.erase(std::find(args.begin(), args.end(), "--quiet"));
    *(std::find(args.begin(), args.end(), "--epochs") + 1) = "1";
    return args;
  };
  ASSERT_EQ(run(with_layout(tiny_run(automatic), "auto"), automatic + ".log"), 0) << slurp(automatic + ".log");
  const auto log = slurp(automatic + ".log");
  EXPECT_NE(log.find("(auto: a training step took "), std::string::npos) << log;
  const auto yaml = YAML::LoadFile(automatic + "/config.yaml");
  const auto chosen = yaml["channels_last"].as<std::string>();
  ASSERT_TRUE(chosen == "true" || chosen == "false") << "config.yaml keeps the choice, got " << chosen;
  EXPECT_NE(log.find(chosen == "true" ? "  layout channels_last (auto" : "  layout NCHW (auto"), std::string::npos) << log;
  ASSERT_EQ(run(with_layout(tiny_run(given), chosen), given + ".log"), 0) << slurp(given + ".log");
  EXPECT_EQ(slurp(given + ".log").find("(auto: "), std::string::npos) << "measured although the layout was given";
  auto a = load_checkpoint(automatic + "/checkpoints/last.ckpt"), b = load_checkpoint(given + "/checkpoints/last.ckpt");
  expect_bitwise_equal(a.model, b.model, "model");
  expect_bitwise_equal(a.rng, b.rng, "generators");
}

TEST(EngineE2E, SigtermStopsAtAStepWithACheckpointAndTheResumedRunIsBitwiseIdentical) {
  if (!have_data()) GTEST_SKIP() << "Fashion-MNIST not installed (dataset-fashion-mnist)";
  const auto ref = scratch("sigref"), stopped = scratch("sigterm");
  ASSERT_EQ(run(tiny_run(ref), ref + ".log"), 0) << slurp(ref + ".log");

  // SIGTERM early in epoch 2 (seen from a periodic checkpoint at step >= 6 of 30): the run
  // finishes the step it is in, saves there and stops.
  pid_t pid = spawn(tiny_run(stopped), stopped + ".log");
  const auto last = stopped + "/checkpoints/last.ckpt";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  bool in_epoch2 = false;
  while (!in_epoch2 && std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) FAIL() << "the run ended before the signal";
    try {
      auto meta = nlohmann::json::parse(load_checkpoint(last).meta_json);
      in_epoch2 = meta.at("epochs_done") == 1 && meta.at("step_in_epoch").get<int>() >= 6;
    } catch (const std::exception&) {
      // not written yet
    }
    if (!in_epoch2) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(in_epoch2);
  kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid), 128 + SIGTERM) << slurp(stopped + ".log");
  const auto log = slurp(stopped + ".log");
  EXPECT_NE(log.find("wrn: stopped by SIGTERM in epoch 2 after step "), std::string::npos) << log;
  EXPECT_NE(log.find("continue with 'wrn resume " + stopped + "'"), std::string::npos) << log;
  auto meta = nlohmann::json::parse(load_checkpoint(last).meta_json);
  EXPECT_EQ(meta.at("epochs_done"), 1);
  // Saved at the step the signal arrived in: the one the message names. (The signal is sent
  // once the step-6 checkpoint is seen, so it lands at the end of step 6 or later.)
  const int saved_step = meta.at("step_in_epoch").get<int>();
  EXPECT_GE(saved_step, 6);
  EXPECT_NE(log.find(fmt::format("in epoch 2 after step {} of ", saved_step)), std::string::npos) << log;

  ASSERT_EQ(run({"resume", stopped, "--quiet"}, stopped + ".resume.log"), 0) << slurp(stopped + ".resume.log");
  auto a = load_checkpoint(ref + "/checkpoints/last.ckpt");
  auto b = load_checkpoint(last);
  expect_bitwise_equal(a.model, b.model, "model");
  expect_bitwise_equal(a.optimizer, b.optimizer, "optimizer");
  EXPECT_EQ(comparable(read_metrics(ref + "/metrics.jsonl")), comparable(read_metrics(stopped + "/metrics.jsonl")));
}

TEST(EngineE2E, ResumeRepairsATornMetricsLineAndRemovesStaleTemporaries) {
  if (!have_data()) GTEST_SKIP() << "Fashion-MNIST not installed (dataset-fashion-mnist)";
  const auto out = scratch("torn");
  auto args = tiny_run(out);
  for (auto& a : args)
    if (a == "3") a = "2";  // --epochs 2
  ASSERT_EQ(run(args, out + ".log"), 0) << slurp(out + ".log");
  ASSERT_EQ(read_metrics(out + "/metrics.jsonl").size(), 2u);
  // What a kill leaves: an append of epoch 3 cut short, temporaries of interrupted writes.
  {
    std::ofstream(out + "/metrics.jsonl", std::ios::app) << "{\"epoch\":3,\"lr\":0.0";
    std::ofstream(out + "/checkpoints/.last.ckpt.tmp123456") << "partial";
    std::ofstream(out + "/.metrics.jsonl.tmp42") << "partial";
  }
  ASSERT_EQ(run({"resume", out, "--epochs", "3", "--quiet"}, out + ".resume.log"), 0) << slurp(out + ".resume.log");
  const auto text = slurp(out + "/metrics.jsonl");
  auto ms = read_metrics(out + "/metrics.jsonl");
  ASSERT_EQ(ms.size(), 3u) << text;
  EXPECT_EQ(ms[2].epoch, 3);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3) << text;
  EXPECT_FALSE(fs::exists(out + "/checkpoints/.last.ckpt.tmp123456"));
  EXPECT_FALSE(fs::exists(out + "/.metrics.jsonl.tmp42"));
}

TEST(EngineE2E, DivergingLossStopsWithADiagnosticAndKeepsTheCheckpoint) {
  if (!have_data()) GTEST_SKIP() << "Fashion-MNIST not installed (dataset-fashion-mnist)";
  const auto out = scratch("nan");
  auto args = tiny_run(out);
  args.insert(args.end(), {"--set", "optimizer.lr=1e12", "--set", "schedule.type=constant"});
  const int rc = run(args, out + ".log");
  const auto log = slurp(out + ".log");
  EXPECT_NE(rc, 0) << log;
  EXPECT_NE(log.find("diverged"), std::string::npos) << log;
  EXPECT_NE(log.find("lr 1000000000000"), std::string::npos) << log;
  EXPECT_NE(log.find("last.ckpt"), std::string::npos) << log;
  EXPECT_NO_THROW(load_checkpoint(out + "/checkpoints/last.ckpt"));
}

TEST(EngineE2E, TwoEpochsOnFullFashionMnistReach85Percent) {
  if (!have_data()) GTEST_SKIP() << "Fashion-MNIST not installed (dataset-fashion-mnist)";
  const auto out = scratch("fmnist");
  const int rc = run({"train", "--preset", "demo", "--model", "wrn-10-1", "--epochs", "2", "--data", kData,
                      "--set", "checkpoint.every_seconds=0", "--quiet", "--out", out},
                     out + ".log");
  ASSERT_EQ(rc, 0) << slurp(out + ".log");
  auto ms = read_metrics(out + "/metrics.jsonl");
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_LE(ms[1].test_top1_err, 15.0) << "test accuracy " << 100 - ms[1].test_top1_err << "%";
}

// One writer per run directory: a resume started while the run trains stops with a one-line
// error naming the holder, and leaves the running run alone.
TEST(EngineE2E, ASecondWriterIntoARunningRunDirectoryIsRefused) {
  if (!have_data()) GTEST_SKIP() << "Fashion-MNIST not installed (dataset-fashion-mnist)";
  const auto out = scratch("locked");
  auto args = tiny_run(out);
  pid_t pid = spawn(args, out + ".log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (!fs::exists(out + "/checkpoints/last.ckpt") && std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) FAIL() << "the run ended too early";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const int rc = run({"resume", out, "--quiet"}, out + ".second.log");
  const auto log = slurp(out + ".second.log");
  EXPECT_NE(rc, 0);
  EXPECT_NE(log.find("is in use by another wrn train/resume (pid " + std::to_string(pid) + ")"), std::string::npos)
      << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  EXPECT_EQ(wait_exit(pid), 0) << slurp(out + ".log");  // the first run was not disturbed
  EXPECT_EQ(read_metrics(out + "/metrics.jsonl").size(), 3u);

  // Crafted checkpoints with a valid checksum are refused in one line, not trained from.
  const auto last = out + "/checkpoints/last.ckpt";
  const auto good = load_checkpoint(last);
  auto negative = good;
  auto meta = nlohmann::json::parse(negative.meta_json);
  meta["step_in_epoch"] = -1;
  negative.meta_json = meta.dump();
  save_checkpoint(last, negative);
  EXPECT_NE(run({"resume", out, "--epochs", "4", "--quiet"}, out + ".crafted.log"), 0);
  EXPECT_NE(slurp(out + ".crafted.log").find("bad bookkeeping record"), std::string::npos) << slurp(out + ".crafted.log");
  auto nan_norm = good;
  nan_norm.normalizer[0] = torch::full_like(nan_norm.normalizer[0], std::nan(""));
  save_checkpoint(last, nan_norm);
  EXPECT_NE(run({"resume", out, "--epochs", "4", "--quiet"}, out + ".nan.log"), 0);
  EXPECT_NE(slurp(out + ".nan.log").find("normalizer state: mean must be finite"), std::string::npos)
      << slurp(out + ".nan.log");
}

// An unreadable last.ckpt: resume falls back to previous.ckpt (the one before it), says so, and
// the run ends as it would have; a run directory with no checkpoint at all starts from config.yaml.
TEST(EngineE2E, ResumeFallsBackToThePreviousCheckpointOrStartsFromTheConfig) {
  if (!have_data()) GTEST_SKIP() << "Fashion-MNIST not installed (dataset-fashion-mnist)";
  const auto ref = scratch("fallback-ref"), out = scratch("fallback");
  ASSERT_EQ(run(tiny_run(ref), ref + ".log"), 0) << slurp(ref + ".log");
  ASSERT_EQ(run(tiny_run(out), out + ".log"), 0) << slurp(out + ".log");
  ASSERT_TRUE(fs::exists(out + "/checkpoints/previous.ckpt"));
  {
    std::fstream f(out + "/checkpoints/last.ckpt", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x5a');  // one byte: the CRC no longer matches
  }
  ASSERT_EQ(run({"resume", out}, out + ".resume.log"), 0) << slurp(out + ".resume.log");
  const auto log = slurp(out + ".resume.log");
  EXPECT_NE(log.find("resuming from " + out + "/checkpoints/previous.ckpt"), std::string::npos) << log;
  EXPECT_TRUE(fs::exists(out + "/checkpoints/last.ckpt.unreadable"));
  // previous.ckpt was the last one inside epoch 3 (every 3 steps): continued from there, bitwise the same run.
  expect_bitwise_equal(load_checkpoint(ref + "/checkpoints/last.ckpt").model,
                       load_checkpoint(out + "/checkpoints/last.ckpt").model, "model");
  EXPECT_EQ(comparable(read_metrics(ref + "/metrics.jsonl")), comparable(read_metrics(out + "/metrics.jsonl")));

  // No checkpoint at all (killed before the first): resume trains it from config.yaml.
  fs::remove_all(out + "/checkpoints");
  ASSERT_EQ(run({"resume", out}, out + ".fresh.log"), 0) << slurp(out + ".fresh.log");
  EXPECT_NE(slurp(out + ".fresh.log").find("starting it from its config.yaml"), std::string::npos);
  EXPECT_EQ(comparable(read_metrics(ref + "/metrics.jsonl")), comparable(read_metrics(out + "/metrics.jsonl")));
}
