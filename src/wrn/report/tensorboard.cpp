#include "wrn/report/tensorboard.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"

namespace wrn::train {
namespace {

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected Castagnoli
    t[i] = c;
  }
  return t;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// --- protobuf wire format (only what Event/Summary need) ---
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_tag(std::string& out, uint32_t field, uint32_t wire_type) { put_varint(out, (field << 3) | wire_type); }
template <typename T>
void put_le(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xFF));
}
void put_double(std::string& out, uint32_t field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  put_tag(out, field, 1);
  put_le<uint64_t>(out, bits);
}
void put_float(std::string& out, uint32_t field, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  put_tag(out, field, 5);
  put_le<uint32_t>(out, bits);
}
void put_bytes(std::string& out, uint32_t field, const std::string& s) {
  put_tag(out, field, 2);
  put_varint(out, s.size());
  out += s;
}

std::string encode_event(double wall_time, int64_t step, const std::string* file_version,
                         const std::vector<std::pair<std::string, double>>* values) {
  std::string ev;
  put_double(ev, 1, wall_time);
  if (step != 0) {
    put_tag(ev, 2, 0);
    put_varint(ev, static_cast<uint64_t>(step));  // int64: negative values take ten bytes
  }
  if (file_version) put_bytes(ev, 3, *file_version);
  if (values) {
    std::string summary;
    for (const auto& [tag, v] : *values) {
      std::string value;
      put_bytes(value, 1, tag);
      put_float(value, 2, static_cast<float>(v));
      put_bytes(summary, 1, value);
    }
    put_bytes(ev, 5, summary);
  }
  return ev;
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  static const std::array<uint32_t, 256> table = make_crc_table();
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t c = crc32c(data, size);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

TensorBoardWriter::TensorBoardWriter(const std::string& run_dir) {
  WRN_CHECK_FILE(std::filesystem::is_directory(run_dir), "{}: run directory does not exist", run_dir);
  char host[256] = {0};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  const double now = now_seconds();
  // TensorBoard orders files by the time in the name; a resumed run in the same second
  // would collide, so add a counter rather than overwrite.
  std::string name = fmt::format("events.out.tfevents.{}.{}", static_cast<long long>(now), host);
  std::filesystem::path p = std::filesystem::path(run_dir) / name;
  for (int i = 1; std::filesystem::exists(p); ++i) p = std::filesystem::path(run_dir) / fmt::format("{}.{}", name, i);
  path_ = p.string();
  file_ = std::fopen(path_.c_str(), "wb");
  WRN_CHECK_FILE(file_ != nullptr, "{}: cannot create event file: {}", path_, std::strerror(errno));
  const std::string version = "brain.Event:2";
  write_record(encode_event(now, 0, &version, nullptr));
  flush();
}

TensorBoardWriter::~TensorBoardWriter() {
  if (file_) std::fclose(file_);
}

void TensorBoardWriter::write_record(const std::string& data) {
  std::string rec;
  put_le<uint64_t>(rec, data.size());
  const uint32_t len_crc = masked_crc32c(rec.data(), 8);
  put_le<uint32_t>(rec, len_crc);
  rec += data;
  put_le<uint32_t>(rec, masked_crc32c(data.data(), data.size()));
  WRN_CHECK_FILE(std::fwrite(rec.data(), 1, rec.size(), file_) == rec.size(), "{}: cannot write event: {}", path_,
                 std::strerror(errno));
}

void TensorBoardWriter::add_scalar(const std::string& tag, double value, int64_t step, double wall_time) {
  add_scalars({{tag, value}}, step, wall_time);
}

void TensorBoardWriter::add_scalars(const std::vector<std::pair<std::string, double>>& values, int64_t step,
                                    double wall_time) {
  write_record(encode_event(wall_time < 0 ? now_seconds() : wall_time, step, nullptr, &values));
}

void TensorBoardWriter::write_epoch(const EpochMetrics& m) {
  // One event per tag, the form TensorBoard's own writers produce.
  const double t = now_seconds();
  const std::pair<const char*, double> tags[] = {
      {"train/loss", m.train_loss},       {"train/top1_err", m.train_top1_err}, {"test/loss", m.test_loss},
      {"test/top1_err", m.test_top1_err}, {"test/top5_err", m.test_top5_err},   {"lr", m.lr},
      {"images_per_second", m.images_per_second}};
  for (const auto& [tag, v] : tags) add_scalar(tag, v, m.epoch, t);
  flush();
}

void TensorBoardWriter::flush() {
  WRN_CHECK_FILE(std::fflush(file_) == 0, "{}: cannot flush event file: {}", path_, std::strerror(errno));
  ::fsync(::fileno(file_));
}

}  // namespace wrn::train
