// A run directory holds one run (issue 25), through the built `wrn` on tiny Fashion-MNIST runs:
//  - another run's last.ckpt copied into RUN, or one `wrn import --force` wrote: resume refuses
//    it in one line, naming both run ids, and nothing in RUN changes;
//  - an edited config.yaml: resume names the edited keys and changes nothing;
//  - `wrn train --resume-if-exists` continues the same command's run (and refuses another
//    recipe in its --out), finishing it as `wrn resume` would;
//  - `wrn eval --predictions -` writes the CSV to standard output, the summary to stderr.
// Needs Debian's dataset-fashion-mnist; skipped without it.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "e2e_util.h"
#include "wrn/core/atomic_file.h"
#include "wrn/io/checkpoint.h"

namespace fs = std::filesystem;
using wrn::test::run;
using wrn::test::slurp;

namespace {

const char* kData = "/usr/share/datasets/fashion-mnist";
bool have_data() { return fs::exists(fs::path(kData) / "train-images-idx3-ubyte.gz"); }
std::string scratch(const std::string& name) { return wrn::test::scratch("wrn_identity_", name); }

std::vector<std::string> tiny_run(const std::string& out, const std::string& seed = "3") {
  return {"train", "--preset", "demo", "--model", "wrn-10-1", "--set", "data.limit_train=200",
          "--set", "data.limit_test=100", "--batch-size", "50", "--epochs", "2", "--seed", seed,
          "--precision", "fp32", "--threads", "1", "--data", kData, "--quiet", "--out", out};
}

std::string file_bytes(const std::string& path) { return fs::exists(path) ? wrn::read_file(path) : "<missing>"; }

// The bytes of every file of a run directory (what must not change when resume refuses).
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != ".lock") out[e.path().string()] = file_bytes(e.path().string());
  return out;
}

}  // namespace

TEST(RunIdentityE2E, ResumeRefusesAnotherRunsCheckpointAndAnEditedConfig) {
  if (!have_data()) GTEST_SKIP() << "Fashion-MNIST not installed (dataset-fashion-mnist)";
  const auto mine = scratch("mine"), other = scratch("other");
  ASSERT_EQ(run(tiny_run(mine), mine + ".log"), 0) << slurp(mine + ".log");
  ASSERT_EQ(run(tiny_run(other, "4"), other + ".log"), 0) << slurp(other + ".log");
  const std::string config = slurp(mine + "/config.yaml");
  ASSERT_NE(config.find("run_id: "), std::string::npos) << config;
  EXPECT_NE(config, slurp(other + "/config.yaml"));

  // Another run's checkpoint in my run directory.
  fs::copy_file(other + "/checkpoints/last.ckpt", mine + "/checkpoints/last.ckpt", fs::copy_options::overwrite_existing);
  auto before = snapshot(mine);
  EXPECT_EQ(run({"resume", mine, "--epochs", "3", "--quiet"}, mine + ".resume.log"), 1);
  auto log = slurp(mine + ".resume.log");
  EXPECT_NE(log.find("last.ckpt belongs to run "), std::string::npos) << log;
  EXPECT_NE(log.find("not resuming another run's checkpoint"), std::string::npos) << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  EXPECT_EQ(snapshot(mine), before) << "a refused resume changed the run directory";

  // A checkpoint wrn import wrote (weights only, no run).
  ASSERT_EQ(run({"export", "--checkpoint", other + "/checkpoints/last.ckpt", "--format", "safetensors", "--out",
                 other + "/w.safetensors"}, other + ".export.log"), 0) << slurp(other + ".export.log");
  ASSERT_EQ(run({"import", "--from", other + "/w.safetensors", "--out", mine + "/checkpoints/last.ckpt", "--force"},
                mine + ".import.log"), 0) << slurp(mine + ".import.log");
  EXPECT_EQ(run({"resume", mine, "--quiet"}, mine + ".resume2.log"), 1);
  log = slurp(mine + ".resume2.log");
  EXPECT_NE(log.find("was not written by a wrn train run"), std::string::npos) << log;

  // An edited config.yaml, with this run's own checkpoint back.
  fs::copy_file(other + "/checkpoints/last.ckpt", mine + "/checkpoints/last.ckpt", fs::copy_options::overwrite_existing);
  ASSERT_EQ(run(tiny_run(mine + "2"), mine + "2.log"), 0) << slurp(mine + "2.log");
  const std::string run2 = mine + "2";
  std::string edited = slurp(run2 + "/config.yaml");
  const auto lr = edited.find("\n  lr: ");
  ASSERT_NE(lr, std::string::npos) << edited;
  edited.replace(lr, edited.find('\n', lr + 1) - lr, "\n  lr: 0.5");
  wrn::write_file_atomically(run2 + "/config.yaml", edited);
  before = snapshot(run2);
  EXPECT_EQ(run({"resume", run2, "--epochs", "3", "--quiet"}, run2 + ".resume.log"), 1);
  log = slurp(run2 + ".resume.log");
  EXPECT_NE(log.find("config.yaml: edited since the run's last checkpoint (optimizer.lr: "), std::string::npos) << log;
  EXPECT_EQ(snapshot(run2), before);
}

TEST(RunIdentityE2E, ResumeIfExistsContinuesTheSameRunAndRefusesAnother) {
  if (!have_data()) GTEST_SKIP() << "Fashion-MNIST not installed (dataset-fashion-mnist)";
  const auto ref = scratch("ref"), again = scratch("again");
  ASSERT_EQ(run(tiny_run(ref), ref + ".log"), 0) << slurp(ref + ".log");
  // The same command with --resume-if-exists: the first time it starts the run.
  auto first = tiny_run(again);
  first.push_back("--resume-if-exists");
  ASSERT_EQ(run(first, again + ".log"), 0) << slurp(again + ".log");  // no run yet: starts it
  // Back to the end of epoch 1 (its previous checkpoint), as if it had died there; the same
  // command again continues it, and ends bitwise as the run left alone.
  const auto id_config = slurp(again + "/config.yaml");
  auto ck = wrn::io::load_checkpoint(again + "/checkpoints/previous.ckpt");
  ASSERT_EQ(ck.meta_json.find("\"epochs_done\":2"), std::string::npos) << ck.meta_json;
  fs::copy_file(again + "/checkpoints/previous.ckpt", again + "/checkpoints/last.ckpt",
                fs::copy_options::overwrite_existing);
  ASSERT_EQ(run(first, again + ".2.log"), 0) << slurp(again + ".2.log");
  const auto log = slurp(again + ".2.log");
  EXPECT_NE(log.find("--resume-if-exists: continuing the run in"), std::string::npos) << log;
  EXPECT_EQ(slurp(again + "/config.yaml"), id_config);
  auto a = wrn::io::load_checkpoint(ref + "/checkpoints/last.ckpt");
  auto b = wrn::io::load_checkpoint(again + "/checkpoints/last.ckpt");
  wrn::test::expect_bitwise_equal(a.model, b.model, "model");

  // Another recipe in the same --out is not continued.
  auto other = tiny_run(again, "9");
  other.push_back("--resume-if-exists");
  EXPECT_EQ(run(other, again + ".3.log"), 1);
  const auto refused = slurp(again + ".3.log");
  EXPECT_NE(refused.find("holds another run (this command -> its config.yaml: seed"), std::string::npos) << refused;
}

TEST(RunIdentityE2E, EvalWritesPredictionsToStdoutOnlyWhenAskedWithADash) {
  if (!have_data()) GTEST_SKIP() << "Fashion-MNIST not installed (dataset-fashion-mnist)";
  const auto out = scratch("eval");
  // Not quiet, evaluated every 2nd epoch: epoch 1's line says so instead of "test loss nan err nan%".
  auto args = tiny_run(out);
  args.erase(std::find(args.begin(), args.end(), "--quiet"));
  args.insert(args.end(), {"--set", "eval_every=2"});
  ASSERT_EQ(run(args, out + ".log"), 0) << slurp(out + ".log");
  const auto progress = slurp(out + ".log");
  EXPECT_NE(progress.find("epoch 1/2  lr "), std::string::npos) << progress;
  EXPECT_NE(progress.find("test not evaluated this epoch"), std::string::npos) << progress;
  EXPECT_EQ(progress.find("nan"), std::string::npos) << progress;
  const auto ck = out + "/checkpoints/last.ckpt";
  // stdout and stderr to separate files.
  const std::string cmd = fmt::format("{} eval --checkpoint {} --predictions - --no-png > {}.csv 2> {}.err",
                                      WRN_TOOL_PATH, ck, out, out);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << slurp(out + ".err");
  const auto csv = slurp(out + ".csv");
  EXPECT_EQ(csv.rfind("index,label,predicted\n", 0), 0u) << csv.substr(0, 200);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 101);
  EXPECT_NE(slurp(out + ".err").find("top-1 error"), std::string::npos);
}
