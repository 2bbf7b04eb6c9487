#include "wrn/io/zip_check.h"


#include <algorithm>
#include <cstring>

#include "wrn/core/error.h"
#include "wrn/io/crc32.h"

namespace wrn::io {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;
constexpr uint64_t kMaxEntries = uint64_t{1} << 20;

class Reader {
 public:
  Reader(std::string_view bytes, const std::string& what) : b_(bytes), what_(what) {}

  template <class T>
  T get(uint64_t offset, const std::string& where) const {
    need(offset, sizeof(T), where);
    T v{};
    std::memcpy(&v, b_.data() + offset, sizeof(T));  // zip is little-endian, as x86 and ARM Linux
    return v;
  }
  void need(uint64_t offset, uint64_t n, const std::string& where) const {
    if (offset > b_.size() || n > b_.size() - offset)
      fail(where, fmt::format("{} bytes at offset {} lie outside the {}-byte archive", n, offset, b_.size()));
  }
  [[noreturn]] void fail(const std::string& where, const std::string& problem) const {
    throw FileError(fmt::format("{}: corrupt zip archive: {}: {}", what_, where, problem));
  }

 private:
  std::string_view b_;
  const std::string& what_;
};

}  // namespace

std::vector<ZipEntry> check_zip(std::string_view archive, const std::string& what) {
  const Reader r(archive, what);
  const uint64_t n = archive.size();
  // The end record: 22 bytes plus a comment of at most 65535, at the very end.
  if (n < 22) r.fail("end of central directory", "the archive is shorter than its end record");
  uint64_t end = n - 22;
  const uint64_t lowest = n >= 22 + 65535 ? n - 22 - 65535 : 0;
  while (r.get<uint32_t>(end, "end record") != kEndSig) {
    if (end == lowest) r.fail("end of central directory", "no end record (not a zip archive, or truncated)");
    --end;
  }
  uint64_t entries = r.get<uint16_t>(end + 10, "end record");
  uint64_t cd_size = r.get<uint32_t>(end + 12, "end record");
  uint64_t cd_offset = r.get<uint32_t>(end + 16, "end record");
  if (r.get<uint16_t>(end + 4, "end record") != 0 || r.get<uint16_t>(end + 6, "end record") != 0 ||
      r.get<uint16_t>(end + 8, "end record") != entries)
    r.fail("end of central directory", "a multi-disk archive");
  uint64_t cd_end_limit = end;
  if (entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {  // ZIP64
    if (end < 20 || r.get<uint32_t>(end - 20, "ZIP64 locator") != kLocator64Sig)
      r.fail("end of central directory", "ZIP64 values without a ZIP64 locator");
    const uint64_t e64 = r.get<uint64_t>(end - 20 + 8, "ZIP64 locator");
    if (e64 > end - 20 || r.get<uint32_t>(e64, "ZIP64 end record") != kEnd64Sig)
      r.fail("ZIP64 end of central directory", "missing or misplaced");
    entries = r.get<uint64_t>(e64 + 32, "ZIP64 end record");
    cd_size = r.get<uint64_t>(e64 + 40, "ZIP64 end record");
    cd_offset = r.get<uint64_t>(e64 + 48, "ZIP64 end record");
    cd_end_limit = e64;
  }
  if (entries > kMaxEntries) r.fail("central directory", fmt::format("{} entries (at most {})", entries, kMaxEntries));
  if (cd_offset > cd_end_limit || cd_size > cd_end_limit - cd_offset)
    r.fail("central directory", fmt::format("{} bytes at offset {} overlap the end records", cd_size, cd_offset));

  std::vector<ZipEntry> out;
  out.reserve(static_cast<size_t>(entries));
  std::vector<std::pair<uint64_t, uint64_t>> regions;  // [local header, data end)
  uint64_t p = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < entries; ++i) {
    const std::string where = fmt::format("central directory entry {}", i);
    if (p + 46 > cd_end || r.get<uint32_t>(p, where) != kCentralSig) r.fail(where, "missing or outside the directory");
    const uint16_t method = r.get<uint16_t>(p + 10, where);
    const uint32_t crc = r.get<uint32_t>(p + 16, where);
    uint64_t csize = r.get<uint32_t>(p + 20, where), usize = r.get<uint32_t>(p + 24, where);
    const uint16_t name_len = r.get<uint16_t>(p + 28, where), extra_len = r.get<uint16_t>(p + 30, where),
                   comment_len = r.get<uint16_t>(p + 32, where);
    uint64_t local = r.get<uint32_t>(p + 42, where);
    if (p + 46 + name_len + extra_len + comment_len > cd_end) r.fail(where, "runs past the central directory");
    ZipEntry e;
    e.name = std::string(archive.substr(static_cast<size_t>(p + 46), name_len));
    const std::string ewhere = fmt::format("entry '{}'", e.name);
    // ZIP64 extra field: the 64-bit values of those set to 0xFFFFFFFF, in this order.
    for (uint64_t x = p + 46 + name_len; x + 4 <= p + 46 + name_len + extra_len;) {
      const uint16_t id = r.get<uint16_t>(x, ewhere), len = r.get<uint16_t>(x + 2, ewhere);
      if (x + 4 + len > p + 46 + name_len + extra_len) r.fail(ewhere, "an extra field runs past its entry");
      if (id == 0x0001) {
        uint64_t q = x + 4, q_end = x + 4 + len;
        auto take = [&](uint64_t& v) {
          if (v != 0xFFFFFFFF) return;
          if (q + 8 > q_end) r.fail(ewhere, "a short ZIP64 extra field");
          v = r.get<uint64_t>(q, ewhere);
          q += 8;
        };
        take(usize);
        take(csize);
        take(local);
      }
      x += 4 + len;
    }
    if (method != 0) r.fail(ewhere, fmt::format("compression method {} (expected 0, stored, as PyTorch writes)", method));
    if (csize != usize) r.fail(ewhere, fmt::format("stored with {} bytes but {} declared", csize, usize));
    if (local + 30 > cd_offset || r.get<uint32_t>(local, ewhere) != kLocalSig)
      r.fail(ewhere, fmt::format("no local header at offset {}", local));
    const uint16_t lname = r.get<uint16_t>(local + 26, ewhere), lextra = r.get<uint16_t>(local + 28, ewhere);
    if (lname != name_len || archive.substr(static_cast<size_t>(local + 30), name_len) != e.name)
      r.fail(ewhere, "the local header names another entry");
    e.data_offset = local + 30 + lname + lextra;
    e.size = usize;
    if (e.data_offset > cd_offset || e.size > cd_offset - e.data_offset)
      r.fail(ewhere, fmt::format("its {} bytes at offset {} run into the central directory", e.size, e.data_offset));
    const uint32_t actual = crc32_of(archive.data() + e.data_offset, e.size);
    if (actual != crc) r.fail(ewhere, fmt::format("CRC-32 {:08x}, the directory says {:08x}", actual, crc));
    regions.emplace_back(local, e.data_offset + e.size);
    out.push_back(std::move(e));
    p += 46 + name_len + extra_len + comment_len;
  }
  std::sort(regions.begin(), regions.end());
  for (size_t i = 1; i < regions.size(); ++i)
    if (regions[i].first < regions[i - 1].second)
      r.fail("entries", fmt::format("two entries overlap at offset {}", regions[i].first));
  return out;
}

std::vector<std::string_view> zip_records(std::string_view archive, const std::vector<ZipEntry>& entries,
                                          std::string_view record) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  std::vector<std::string_view> out;
  for (const auto& e : entries) {
    const std::string_view name = e.name;
    if (name.size() < record.size()) continue;
    const size_t at = name.size() - record.size();
    if (at > 0 && name[at - 1] != '/') continue;
    if (!std::equal(record.begin(), record.end(), name.begin() + static_cast<std::ptrdiff_t>(at),
                    [&](char a, char b) { return lower(a) == lower(b); }))
      continue;
    out.push_back(archive.substr(static_cast<size_t>(e.data_offset), static_cast<size_t>(e.size)));
  }
  return out;
}

ZipArchive::ZipArchive(std::string_view archive, std::string what)
    : archive_(archive), what_(std::move(what)), entries_(check_zip(archive_, what_)) {}

std::string_view ZipArchive::record(std::string_view record) const {
  const auto found = zip_records(archive_, entries_, record);
  WRN_CHECK_FILE(found.size() == 1, "{}: the archive holds {} records '{}' (expected one)", what_, found.size(),
                 record);
  return found.front();
}

}  // namespace wrn::io
