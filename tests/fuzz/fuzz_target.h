// Shared by the libFuzzer targets (one per reader; docs/reliability.md "Fuzzing"). Each target feeds its
// input to a reader the way a user's file reaches it and accepts exactly one outcome besides
// success: a wrn::Error (the one-line error the tool prints). Any other exception, a crash, a
// sanitizer report, a hang or an allocation over libFuzzer's limit is a finding.
//
// Built two ways from the same sources: with WRN_FUZZ (clang, libFuzzer's main, ASan/UBSan)
// for `make fuzz`, and in every build against fuzz_replay_main.cpp, which runs the checked-in
// seed corpus and the reproducers of fixed findings (tests/fuzz/regressions) as unit tests.
#pragma once

#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "wrn/core/error.h"
#include "wrn/data/readers.h"

namespace wrn::fuzz {

// A directory of this process for the inputs that readers take as files (in /dev/shm when
// there is one: every execution writes a file), removed at exit.
inline const std::string& scratch_dir() {
  struct Dir {
    std::string path;
    Dir() {
      const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
      std::string tmpl = std::string(base) + "/wrn-fuzz-XXXXXX";
      if (mkdtemp(tmpl.data()) == nullptr) std::abort();
      path = tmpl;
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

inline std::string scratch_file(const std::string& name) { return scratch_dir() + "/" + name; }

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) std::abort();
}

// Reads whose declared sizes stay far below libFuzzer's -malloc_limit_mb: the defaults (2 GiB
// per file) are real limits too, but each execution would then be allowed gigabytes.
inline void set_small_read_limits() {
  static const bool once = [] {
    data::set_read_limits({uint64_t{64} << 20, uint64_t{1} << 16});
    return true;
  }();
  (void)once;
}

// Runs `read`; a wrn::Error is the expected answer to a bad file, anything else propagates.
// WRN_FUZZ_VERBOSE=1 prints each error (to check that the seeds are read without one).
template <class Fn>
void expect_success_or_wrn_error(Fn&& read) {
  try {
    read();
  } catch (const wrn::Error& e) {
    static const bool verbose = std::getenv("WRN_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "wrn::Error: %s\n", e.what());
  }
}

// The input split in two at a length given by its first 4 bytes (little-endian, modulo the
// rest's size): readers that take a pair of files (IDX images + labels).
inline std::pair<std::string, std::string> split_pair(const uint8_t* data, size_t size) {
  if (size < 4) return {std::string(reinterpret_cast<const char*>(data), size), {}};
  uint32_t n = 0;
  std::memcpy(&n, data, 4);
  const std::string rest(reinterpret_cast<const char*>(data) + 4, size - 4);
  const size_t cut = rest.empty() ? 0 : n % (rest.size() + 1);
  return {rest.substr(0, cut), rest.substr(cut)};
}

inline uint32_t crc32_of(const std::string& bytes, size_t offset, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  return static_cast<uint32_t>(crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + offset),
                                     static_cast<uInt>(size)));
}

inline uint32_t get32(const std::string& b, size_t at) {
  uint32_t v = 0;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}
inline uint16_t get16(const std::string& b, size_t at) {
  uint16_t v = 0;
  std::memcpy(&v, b.data() + at, 2);
  return v;
}
inline void put32(std::string& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }

// The zip archive (torch.save's .pt, a checkpoint's payload) with every stored entry's CRC-32
// recomputed in its central-directory entry (and in its local header unless a data
// descriptor follows the data, as PyTorch's writer does), so that mutations of the content
// reach the parsers behind the CRC check instead of stopping at it. Entries it cannot locate
// (out of bounds, ZIP64 sizes) are left as they are.
inline std::string with_zip_crcs_fixed(std::string b) {
  for (size_t p = 0; p + 46 <= b.size(); ++p) {
    if (get32(b, p) != 0x02014b50) continue;  // a central-directory entry
    const uint64_t size = get32(b, p + 20);
    const size_t lh = get32(b, p + 42);
    if (size == 0xffffffffu || lh > b.size() || b.size() - lh < 30 || get32(b, lh) != 0x04034b50) continue;
    const uint64_t start = uint64_t{lh} + 30 + get16(b, lh + 26) + get16(b, lh + 28);
    if (start > b.size() || b.size() - start < size) continue;
    const uint32_t crc = crc32_of(b, start, size);
    put32(b, p + 16, crc);
    if ((get16(b, lh + 6) & 8) == 0) put32(b, lh + 14, crc);
  }
  return b;
}

}  // namespace wrn::fuzz
