#include "wrn/core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "wrn/core/error.h"

namespace wrn {
namespace fs = std::filesystem;

namespace {

std::string temp_name_for(const fs::path& target) {
  std::random_device rd;
  return (target.parent_path() / ("." + target.filename().string() + ".tmp" + std::to_string(rd() % 1000000)))
      .string();
}

void fsync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  fs::path target(path);
  fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  WRN_CHECK_FILE(fs::is_directory(dir), "{}: cannot write: directory '{}' does not exist", path, dir.string());
  const std::string tmp = temp_name_for(fs::path(dir) / target.filename());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    WRN_CHECK_FILE(out.good(), "{}: cannot write: {}", path, std::strerror(errno));
    try {
      write(out);
      out.flush();
    } catch (...) {
      out.close();
      std::remove(tmp.c_str());
      throw;
    }
    if (!out.good()) {
      out.close();
      std::remove(tmp.c_str());
      throw FileError(fmt::format("{}: write failed (disk full?)", path));
    }
  }
  fsync_path(tmp, false);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    throw FileError(fmt::format("{}: cannot write: {}", path, std::strerror(err)));
  }
  fsync_path(dir.string(), true);
}

void write_file_atomically(const std::string& path, const std::string& content) {
  write_file_atomically(path, [&](std::ostream& out) { out.write(content.data(), static_cast<std::streamsize>(content.size())); });
}

std::string read_file(const std::string& path) {
  WRN_CHECK_FILE(fs::exists(path), "{}: no such file", path);
  WRN_CHECK_FILE(!fs::is_directory(path), "{}: is a directory, expected a file", path);
  // Before opening: a FIFO blocks open() until a writer comes, and /dev/zero never ends.
  WRN_CHECK_FILE(fs::is_regular_file(path), "{}: not a regular file (a FIFO, device or socket), expected a file", path);
  std::ifstream in(path, std::ios::binary);
  WRN_CHECK_FILE(in.good(), "{}: cannot read: {}", path, std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace wrn
