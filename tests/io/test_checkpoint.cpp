// Checkpoint files: round trip, and clear errors for torn, corrupt and foreign files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/io/checkpoint.h"

using namespace wrn::io;
namespace fs = std::filesystem;

namespace {

std::string temp_dir() {
  auto d = fs::temp_directory_path() / ("wrn_ckpt_test_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d.string();
}

Checkpoint sample() {
  Checkpoint c;
  c.config_yaml = "epochs: 3\n";
  c.meta_json = R"({"epochs_done": 1})";
  c.model = {{"conv1.weight", torch::randn({4, 3, 3, 3})}, {"bn.num_batches_tracked", torch::tensor(7)}};
  c.optimizer = {{"momentum_buffer", torch::randn({10})}};
  c.rng = {{"cpu_default", at::detail::getDefaultCPUGenerator().get_state()}};
  c.running = {{"loss_sum", torch::tensor(1.5, torch::kDouble)}};
  c.normalizer = {torch::tensor({1.0, 2.0}), torch::tensor({3.0, 4.0})};
  return c;
}

std::string expect_file_error(const std::string& path) {
  try {
    load_checkpoint(path);
  } catch (const wrn::FileError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no FileError for " << path;
  return "";
}

}  // namespace

TEST(Checkpoint, RoundTripKeepsEveryTensorAndString) {
  auto path = temp_dir() + "/a.ckpt";
  auto c = sample();
  save_checkpoint(path, c);
  auto d = load_checkpoint(path);
  EXPECT_EQ(d.config_yaml, c.config_yaml);
  EXPECT_EQ(d.meta_json, c.meta_json);
  ASSERT_EQ(d.model.size(), 2u);
  EXPECT_EQ(d.model[0].name, "conv1.weight");
  EXPECT_TRUE(torch::equal(d.model[0].value, c.model[0].value));
  EXPECT_TRUE(torch::equal(find_tensor(d.rng, "cpu_default", "t"), c.rng[0].value));
  EXPECT_TRUE(torch::equal(d.running[0].value, c.running[0].value));
  ASSERT_EQ(d.normalizer.size(), 2u);
  EXPECT_TRUE(torch::equal(d.normalizer[1], c.normalizer[1]));
}

TEST(Checkpoint, TruncatedCorruptAndForeignFilesAreReportedClearly) {
  auto dir = temp_dir();
  auto path = dir + "/b.ckpt";
  save_checkpoint(path, sample());
  const std::string bytes = wrn::read_file(path);

  wrn::write_file_atomically(dir + "/torn.ckpt", bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(expect_file_error(dir + "/torn.ckpt").find("truncated"), std::string::npos);

  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  wrn::write_file_atomically(dir + "/flip.ckpt", flipped);
  EXPECT_NE(expect_file_error(dir + "/flip.ckpt").find("corrupt"), std::string::npos);

  wrn::write_file_atomically(dir + "/foreign.ckpt", "PK\x03\x04 not a checkpoint at all, just bytes");
  EXPECT_NE(expect_file_error(dir + "/foreign.ckpt").find("not a wrn checkpoint"), std::string::npos);

  std::string future = bytes;
  future[8] = 99;
  wrn::write_file_atomically(dir + "/future.ckpt", future);
  EXPECT_NE(expect_file_error(dir + "/future.ckpt").find("version 99"), std::string::npos);

  EXPECT_NE(expect_file_error(dir + "/missing.ckpt").find("missing.ckpt"), std::string::npos);
  fs::remove_all(dir);
}
