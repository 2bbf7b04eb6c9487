// End-to-end test of `wrn sweep` through the built tool (WRN_TOOL_PATH): a tiny sweep (2 grid
// values x 2 seeds of a WRN-10-1 on 256 Fashion-MNIST images, 2 epochs) is SIGKILLed once its
// first run has finished and the second has started, then run again with the same command: it
// skips the first run (its files untouched), finishes the rest, and summary.json holds
// 2 configurations x 2 seeds. A different command line over the directory is refused in one line.
// Needs Debian's dataset-fashion-mnist; skipped without it.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <thread>

#include "../train/e2e_util.h"
#include "wrn/report/metrics_log.h"

namespace fs = std::filesystem;
using wrn::test::run;
using wrn::test::slurp;
using wrn::test::spawn;
using wrn::test::wait_exit;

namespace {

const char* kData = "/usr/share/datasets/fashion-mnist";

std::vector<std::string> sweep_args(const std::string& out, const std::string& seeds = "2") {
  return {"sweep", "--preset", "demo", "--seeds", seeds, "--grid", "optimizer.lr=0.05,0.1",
          "--set", "model.name=wrn-10-1", "--set", "data.limit_train=256", "--set", "data.limit_test=128",
          "--set", "epochs=2", "--set", std::string("data.dir=") + kData, "--set", "checkpoint.every_seconds=0",
          "--threads", "2", "--precision", "fp32", "--out", out};
}

fs::file_time_type mtime(const std::string& path) { return fs::last_write_time(path); }

}  // namespace

TEST(SweepE2E, KilledSweepContinuesWithoutRetraining) {
  if (!fs::exists(fs::path(kData) / "train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Fashion-MNIST not installed (dataset-fashion-mnist)";
  const auto out = wrn::test::scratch("wrn_sweep_e2e_", "sweep");
  const auto first = out + "/optimizer.lr=0.05/seed-1", second = out + "/optimizer.lr=0.05/seed-2";

  pid_t pid = spawn(sweep_args(out), out + ".log");
  bool killed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) FAIL() << "the sweep ended before it could be killed:\n" << slurp(out + ".log");
    if (wrn::train::read_metrics(first + "/metrics.jsonl").size() == 2 && fs::exists(second + "/config.yaml")) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(killed) << "the first run did not finish in time:\n" << slurp(out + ".log");
  EXPECT_EQ(wait_exit(pid), 128 + SIGKILL);
  ASSERT_TRUE(fs::exists(out + "/summary.json"));
  const auto at_kill = nlohmann::json::parse(slurp(out + "/summary.json"));
  EXPECT_EQ(at_kill["configurations"][0]["seeds"][0]["state"], "finished");
  EXPECT_LT(at_kill["configurations"][1]["finished"].get<int>(), 2) << "the kill came too late";

  const auto metrics_before = slurp(first + "/metrics.jsonl");
  const auto metrics_time = mtime(first + "/metrics.jsonl"), ckpt_time = mtime(first + "/checkpoints/last.ckpt");

  // Another command line over the same directory: refused in one line, nothing touched.
  ASSERT_EQ(run(sweep_args(out, "3"), out + ".other.log"), 1) << slurp(out + ".other.log");
  const auto other = slurp(out + ".other.log");
  EXPECT_NE(other.find("holds another sweep"), std::string::npos) << other;
  EXPECT_EQ(other.find('\n'), other.size() - 1) << other;

  ASSERT_EQ(run(sweep_args(out), out + ".rerun.log"), 0) << slurp(out + ".rerun.log");
  const auto log = slurp(out + ".rerun.log");
  EXPECT_NE(log.find("run 1/4: optimizer.lr=0.05 seed 1: already finished"), std::string::npos) << log;
  EXPECT_NE(log.find("run 2/4: optimizer.lr=0.05 seed 2: resuming"), std::string::npos) << log;

  // The first run was not trained again.
  EXPECT_EQ(slurp(first + "/metrics.jsonl"), metrics_before);
  EXPECT_TRUE(mtime(first + "/metrics.jsonl") == metrics_time);
  EXPECT_TRUE(mtime(first + "/checkpoints/last.ckpt") == ckpt_time);

  const auto j = nlohmann::json::parse(slurp(out + "/summary.json"));
  ASSERT_EQ(j["configurations"].size(), 2u);
  for (const auto& c : j["configurations"]) {
    EXPECT_EQ(c["finished"], 2) << c.dump();
    ASSERT_EQ(c["final_test_error"]["values"].size(), 2u) << c.dump();
    for (const auto& v : c["final_test_error"]["values"]) EXPECT_TRUE(v["value"].is_number()) << c.dump();
    EXPECT_TRUE(c["final_test_error"]["std"].is_number()) << c.dump();
  }
  EXPECT_EQ(j["configurations"][1]["name"], "optimizer.lr=0.1");
  // Each run's final error is its metrics.jsonl's last epoch.
  const auto m = wrn::train::read_metrics(out + "/optimizer.lr=0.1/seed-2/metrics.jsonl");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_DOUBLE_EQ(j["configurations"][1]["final_test_error"]["values"][1]["value"].get<double>(), m.back().test_top1_err);
  for (const char* f : {"summary.md", "spread.png", "sweep.json"}) EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  // The seeds differ: the two runs of a configuration are not the same run.
  EXPECT_NE(wrn::test::comparable(wrn::train::read_metrics(out + "/optimizer.lr=0.1/seed-1/metrics.jsonl")),
            wrn::test::comparable(m));
  if (!::testing::Test::HasFailure()) fs::remove_all(fs::path(out).parent_path());
}
