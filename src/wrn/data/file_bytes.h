// Internal helpers of the readers: bounded reads (plain or gzip) and file lookup.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <zlib.h>

namespace wrn::data::detail {

// A file read front to back, decompressed with zlib when its name ends in ".gz". Nothing is
// read ahead beyond zlib's buffer, so a reader that knows the size from a header allocates
// that (after checking it against read_limits()) and never inflates a "gzip bomb" further.
class ByteStream {
 public:
  // Throws wrn::FileError naming the file when it is missing or cannot be opened.
  explicit ByteStream(const std::string& path);
  ~ByteStream();
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  // Reads up to `n` bytes into `dst`; fewer only at the end of the data. Throws
  // wrn::FileError naming the file on a read error or a corrupt/truncated gzip stream.
  size_t read(void* dst, size_t n);
  // True when no byte is left (reads at most one; a gzip stream's trailer CRC is checked here).
  bool at_end();
  const std::string& path() const { return path_; }

 private:
  void check_gzip_state();
  std::string path_;
  gzFile gz_ = nullptr;
  std::FILE* plain_ = nullptr;
};

// The bytes of `path` (gzip-decompressed for ".gz"). A truncated or corrupt gzip stream throws
// wrn::FileError naming the file (never returns partial data); so does data beyond
// read_limits().max_bytes (a plain file: its size, checked first; a .gz: checked while
// inflating, before the data is held). Throws wrn::FileError when the file is missing or unreadable.
std::string read_bytes(const std::string& path);

// Throws wrn::FileError "PATH: WHAT declares N bytes of data, more than the limit of L bytes
// (WRN_MAX_DATA_BYTES)" when `bytes` exceeds read_limits().max_bytes, and the same for images
// against max_images; readers call these with header sizes before allocating.
void check_declared_bytes(const std::string& path, const std::string& what, uint64_t bytes);
void check_declared_images(const std::string& path, uint64_t images);

// The first of `dir`/name for name in `names` that exists as a regular file, or "" when none.
std::string find_first(const std::string& dir, const std::vector<std::string>& names);

// `base` or `base`.gz inside `dir`; throws wrn::FileError naming both when neither exists.
std::string find_plain_or_gz(const std::string& dir, const std::string& base);

// Big-endian 32-bit unsigned at `offset` (caller checks the size).
uint32_t read_be32(const std::string& bytes, size_t offset);

bool is_regular_file(const std::string& path);
// Why `path` cannot be read as a data file: "file not found", or "not a regular file (...)"
// for a directory, device or FIFO that exists (/dev/zero was called "not found").
std::string why_not_a_data_file(const std::string& path);
bool is_directory(const std::string& path);

}  // namespace wrn::data::detail
