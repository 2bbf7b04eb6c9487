#include "wrn/data/file_bytes.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/core/text.h"
#include "wrn/data/readers.h"

namespace wrn::data::detail {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A decimal override from the environment, or `fallback`.
uint64_t env_limit(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  errno = 0;
  const unsigned long long parsed = std::strtoull(v, &end, 10);
  WRN_CHECK(errno == 0 && *end == '\0' && parsed > 0 && v[0] != '-',
            "{}={}: expected a positive whole number", name, v);
  return parsed;
}

std::mutex limits_mutex;
bool limits_set = false;
ReadLimits limits;

}  // namespace

std::string why_not_a_data_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return "file not found";
  return "not a regular file (a directory, device or FIFO), expected a data file";
}

ByteStream::ByteStream(const std::string& path) : path_(path) {
  WRN_CHECK_FILE(is_regular_file(path), "{}: {}", path, why_not_a_data_file(path));
  if (ends_with(path, ".gz")) {
    gz_ = gzopen(path.c_str(), "rb");
    WRN_CHECK_FILE(gz_ != nullptr, "{}: cannot open file for reading", path);
    gzbuffer(gz_, 1 << 17);
  } else {
    plain_ = std::fopen(path.c_str(), "rb");
    WRN_CHECK_FILE(plain_ != nullptr, "{}: cannot open file for reading", path);
  }
}

ByteStream::~ByteStream() {
  if (gz_ != nullptr) gzclose(gz_);
  if (plain_ != nullptr) std::fclose(plain_);
}

void ByteStream::check_gzip_state() {
  // gzread stops quietly at a truncated stream; gzerror reports it as Z_BUF_ERROR.
  int code = Z_OK;
  const std::string message = gzerror(gz_, &code);
  WRN_CHECK_FILE(code == Z_OK || code == Z_STREAM_END, "{}: truncated or corrupt gzip data ({})", path_,
                 message);
}

size_t ByteStream::read(void* dst, size_t n) {
  auto* out = static_cast<char*>(dst);
  size_t done = 0;
  while (done < n) {
    const size_t want = std::min<size_t>(n - done, size_t{1} << 30);
    if (gz_ != nullptr) {
      const int got = gzread(gz_, out + done, static_cast<unsigned>(want));
      if (got < 0) {
        int code = 0;
        const std::string message = gzerror(gz_, &code);
        throw FileError(fmt::format("{}: corrupt gzip data ({})", path_, message));
      }
      if (got == 0) {
        check_gzip_state();
        break;
      }
      done += static_cast<size_t>(got);
    } else {
      const size_t got = std::fread(out + done, 1, want, plain_);
      WRN_CHECK_FILE(!std::ferror(plain_), "{}: read error", path_);
      if (got == 0) break;
      done += got;
    }
  }
  return done;
}

bool ByteStream::at_end() {
  char probe;
  return read(&probe, 1) == 0;
}

std::string read_bytes(const std::string& path) {
  ByteStream in(path);
  std::string out;
  if (!ends_with(path, ".gz")) {  // a plain file's size is known: one allocation, checked first
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (!ec) {
      check_declared_bytes(path, "the file", size);
      out.resize(size);
      out.resize(in.read(out.data(), size));
      WRN_CHECK_FILE(in.at_end(), "{}: the file grew while it was read", path);
      return out;
    }
  }
  std::vector<char> chunk(1 << 20);
  for (;;) {
    const size_t n = in.read(chunk.data(), chunk.size());
    if (n == 0) break;
    const uint64_t max_bytes = read_limits().max_bytes;
    WRN_CHECK_FILE(out.size() + n <= max_bytes,
                   "{}: decompresses to more than {} bytes, the limit (WRN_MAX_DATA_BYTES)", path, max_bytes);
    out.append(chunk.data(), n);
  }
  return out;
}

void check_declared_bytes(const std::string& path, const std::string& what, uint64_t bytes) {
  const uint64_t limit = read_limits().max_bytes;
  WRN_CHECK_FILE(bytes <= limit, "{}: {} declares {} bytes of data, more than the limit of {} (WRN_MAX_DATA_BYTES)",
                 path, what, bytes, limit);
}

void check_declared_images(const std::string& path, uint64_t images) {
  const uint64_t limit = read_limits().max_images;
  WRN_CHECK_FILE(images <= limit, "{}: declares {} images, more than the limit of {} (WRN_MAX_IMAGES)", path, images,
                 limit);
}

bool is_regular_file(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

bool is_directory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

std::string find_first(const std::string& dir, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    const std::string path = (fs::path(dir) / name).string();
    if (is_regular_file(path)) return path;
  }
  return "";
}

std::string find_plain_or_gz(const std::string& dir, const std::string& base) {
  const std::string found = find_first(dir, {base, base + ".gz"});
  WRN_CHECK_FILE(!found.empty(), "{}: file not found (nor {}.gz)", (fs::path(dir) / base).string(),
                 base);
  return found;
}

uint32_t read_be32(const std::string& bytes, size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + offset);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace wrn::data::detail

namespace wrn::data {

ReadLimits read_limits() {
  std::lock_guard<std::mutex> lock(detail::limits_mutex);
  if (!detail::limits_set) {
    ReadLimits defaults;
    detail::limits.max_bytes = detail::env_limit("WRN_MAX_DATA_BYTES", defaults.max_bytes);
    detail::limits.max_images = detail::env_limit("WRN_MAX_IMAGES", defaults.max_images);
    detail::limits_set = true;
  }
  return detail::limits;
}

void set_read_limits(const ReadLimits& limits) {
  std::lock_guard<std::mutex> lock(detail::limits_mutex);
  detail::limits = limits;
  detail::limits_set = true;
}

std::vector<std::string> read_name_lines(const std::string& path) {
  std::vector<std::string> names;
  std::istringstream in(detail::read_bytes(path));
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (!line.empty()) names.push_back(line);
  }
  return names;
}

}  // namespace wrn::data
