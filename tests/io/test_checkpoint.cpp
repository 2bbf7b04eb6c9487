// Checkpoint files: round trip, and clear errors for torn, corrupt and foreign files.
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zlib.h>

#include <filesystem>
#include <cstring>
#include <fstream>
#include <tuple>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/io/checkpoint.h"
#include "wrn/io/zip_check.h"

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

namespace {

// The checkpoint's header CRC recomputed after an edit of its payload (a crafted file: the
// damage is inside the zip, where only its own checks can see it).
void reseal(std::string& bytes) {
  const uint32_t crc = static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data() + 24), static_cast<uInt>(bytes.size() - 24)));
  std::memcpy(bytes.data() + 12, &crc, 4);
}

size_t find_or_fail(const std::string& hay, const std::string& needle) {
  const auto at = hay.find(needle);
  EXPECT_NE(at, std::string::npos) << "no '" << needle << "'";
  return at == std::string::npos ? 0 : at;
}

}  // namespace

// Issue 11: a crafted checkpoint with a valid wrn CRC went to LibTorch's zip reader, which
// overflowed a heap buffer on a bad central directory and never checked the entries' CRCs.
TEST(Checkpoint, DamageInsideTheZipPayloadIsAFileErrorNotACrash) {
  const auto dir = temp_dir();
  const auto good = dir + "/zip_good.ckpt";
  auto c = sample();
  c.optimizer = {{"momentum_buffer", torch::full({64}, 0.25f)}};
  save_checkpoint(good, c);
  const std::string bytes = wrn::read_file(good);
  EXPECT_NO_THROW(load_checkpoint(good));

  // One byte of a tensor's data (0.25f = 00 00 80 3e), the header CRC made valid again.
  std::string flipped = bytes;
  const std::string quarter("\x00\x00\x80\x3e\x00\x00\x80\x3e", 8);
  flipped[find_or_fail(flipped, quarter) + 2] ^= 0x01;
  reseal(flipped);
  wrn::write_file_atomically(dir + "/zip_flip.ckpt", flipped);
  const auto m1 = expect_file_error(dir + "/zip_flip.ckpt");
  EXPECT_NE(m1.find("corrupt zip archive"), std::string::npos) << m1;
  EXPECT_NE(m1.find("CRC-32"), std::string::npos) << m1;

  // The central directory's offset pointing far outside the archive.
  std::string bad_dir = bytes;
  const auto end = bad_dir.rfind(std::string("PK\x05\x06", 4));
  ASSERT_NE(end, std::string::npos);
  const uint32_t far = 0x7fffff00;
  std::memcpy(bad_dir.data() + end + 16, &far, 4);
  reseal(bad_dir);
  wrn::write_file_atomically(dir + "/zip_dir.ckpt", bad_dir);
  const auto m2 = expect_file_error(dir + "/zip_dir.ckpt");
  EXPECT_NE(m2.find("corrupt zip archive"), std::string::npos) << m2;
  EXPECT_NE(m2.find("zip_dir.ckpt"), std::string::npos) << m2;

  // An entry's local-header offset past the data, and an entry that claims compression.
  for (const auto& [offset, value, word] : std::vector<std::tuple<int, uint32_t, std::string>>{
           {42, 0x7ffffff0u, "local header"}, {10, 8u, "compression method 8"}}) {
    std::string crafted = bytes;
    const auto cd = crafted.find(std::string("PK\x01\x02", 4));
    ASSERT_NE(cd, std::string::npos);
    if (offset == 10) {
      const uint16_t m = static_cast<uint16_t>(value);
      std::memcpy(crafted.data() + cd + offset, &m, 2);
    } else {
      std::memcpy(crafted.data() + cd + offset, &value, 4);
    }
    reseal(crafted);
    wrn::write_file_atomically(dir + "/zip_entry.ckpt", crafted);
    const auto m = expect_file_error(dir + "/zip_entry.ckpt");
    EXPECT_NE(m.find(word), std::string::npos) << m;
  }
}

// Issue 11: LibTorch's Unpickler sizes a tensor's storage from the numel in the pickle, not
// from its record. A checkpoint whose record is shorter than its tensor (a well-formed
// archive, valid CRCs) is refused instead of exposing the bytes after the record.
TEST(Checkpoint, ATensorRecordShorterThanItsStorageIsAFileError) {
  const auto dir = temp_dir();
  auto c = sample();
  c.optimizer = {{"momentum_buffer", torch::full({64}, 0.25f)}};
  save_checkpoint(dir + "/short_good.ckpt", c);
  const std::string bytes = wrn::read_file(dir + "/short_good.ckpt");
  const std::string payload = bytes.substr(24);

  // The checkpoint with its archive rewritten entry by entry; `cut` shortens the momentum
  // buffer's 256-byte record (64 x 0.25f) to 128 bytes.
  const auto rewritten = [&](bool cut) {
    std::string archive;
    bool was_cut = false;
    {
      caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) {
        archive.append(static_cast<const char*>(data), n);
        return n;
      });
      for (const auto& e : check_zip(payload, "test")) {
        const std::string name = e.name.substr(e.name.find('/') + 1);  // without the archive's folder
        if (name == "version") continue;                                // the writer adds its own
        std::string data = payload.substr(e.data_offset, e.size);
        if (cut && e.size == 256 && data.substr(0, 8) == std::string("\x00\x00\x80\x3e\x00\x00\x80\x3e", 8)) {
          data.resize(128);
          was_cut = true;
        }
        writer.writeRecord(name, data.data(), data.size());
      }
      writer.writeEndOfFile();
    }
    EXPECT_EQ(was_cut, cut);
    std::string file = bytes.substr(0, 24) + archive;
    const uint64_t size = archive.size();
    std::memcpy(file.data() + 16, &size, 8);
    reseal(file);
    return file;
  };
  wrn::write_file_atomically(dir + "/short.ckpt", rewritten(true));
  const auto m = expect_file_error(dir + "/short.ckpt");
  EXPECT_NE(m.find("optimizer/momentum_buffer"), std::string::npos) << m;
  EXPECT_NE(m.find("declares 256 bytes of storage"), std::string::npos) << m;

  // Rewritten without the cut, the archive loads: the check is about the record's size only.
  const std::string resaved = rewritten(false);
  EXPECT_TRUE(torch::equal(parse_checkpoint(resaved, "resaved").optimizer[0].value, torch::full({64}, 0.25f)));
}

// A FIFO given as a checkpoint blocked open() until a writer came, and /dev/zero grew without
// bound (issue 25): anything but a regular file is refused before it is opened.
TEST(Checkpoint, NonRegularFilesAreRefusedBeforeOpening) {
  const auto fifo = temp_dir() + "/fifo.ckpt";
  fs::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_NE(expect_file_error(fifo).find("not a regular file"), std::string::npos);
  fs::remove(fifo);
  if (fs::exists("/dev/zero")) {
    EXPECT_NE(expect_file_error("/dev/zero").find("not a regular file"), std::string::npos);
  }
}
