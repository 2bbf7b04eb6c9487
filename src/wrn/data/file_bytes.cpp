#include "wrn/data/file_bytes.h"

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/core/text.h"

namespace wrn::data::detail {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string read_gzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  WRN_CHECK_FILE(file != nullptr, "{}: cannot open file for reading", path);
  gzbuffer(file, 1 << 17);
  std::string out;
  std::vector<char> chunk(1 << 20);
  for (;;) {
    const int n = gzread(file, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int code = 0;
      const std::string message = gzerror(file, &code);
      gzclose(file);
      throw FileError(fmt::format("{}: corrupt gzip data ({})", path, message));
    }
    if (n == 0) break;
    out.append(chunk.data(), static_cast<size_t>(n));
  }
  // gzread stops quietly at a truncated stream; gzerror reports it as Z_BUF_ERROR.
  int code = Z_OK;
  const std::string message = gzerror(file, &code);
  gzclose(file);
  WRN_CHECK_FILE(code == Z_OK || code == Z_STREAM_END, "{}: truncated or corrupt gzip data ({})",
                 path, message);
  return out;
}

}  // namespace

std::string read_bytes(const std::string& path) {
  WRN_CHECK_FILE(is_regular_file(path), "{}: file not found", path);
  return ends_with(path, ".gz") ? read_gzip(path) : read_file(path);
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
