// A strict check of a zip archive in memory: the containers of torch.save (.pt) and of
// torch::pickle_save (a wrn checkpoint's payload), which wrn reads through ZipArchive below and
// never through LibTorch's zip reader (miniz). miniz trusts the central directory: a crafted
// one made it overflow a heap buffer, and it never compares an entry's CRC-32, so a flipped
// byte inside a tensor went unnoticed.
//
// Checked: the end-of-central-directory record (ZIP64 too, as PyTorch writes it for large
// archives), every central-directory entry and its local header inside the archive, stored
// (uncompressed) entries of one size, data regions that do not overlap, at most 2^20 entries,
// and the CRC-32 of every entry's data.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wrn::io {

struct ZipEntry {
  std::string name;
  uint64_t data_offset = 0;  // of its bytes in the archive
  uint64_t size = 0;
};

// Throws wrn::FileError "<what>: corrupt zip archive: <entry>: <problem>" on the first problem.
std::vector<ZipEntry> check_zip(std::string_view archive, const std::string& what);

// The bytes of every entry that LibTorch's PyTorchStreamReader may open as `record` (such as
// "data.pkl"): it looks up "<folder>/<record>" without regard to case, as miniz does; all of
// them, should a crafted archive hold several. `entries` are check_zip's for `archive`.
std::vector<std::string_view> zip_records(std::string_view archive, const std::vector<ZipEntry>& entries,
                                          std::string_view record);

// A checked archive's records as LibTorch's reader names them ("data.pkl", "data/0", "version"),
// without LibTorch's reader: miniz copies whatever range a crafted directory asks for through
// read adapters that do not check it (fuzzing, issue 11), so .pt files and checkpoints take
// their bytes from check_zip's bounded, checksummed entries instead.
class ZipArchive {
 public:
  // check_zip(archive, what); `archive` must outlive this object.
  ZipArchive(std::string_view archive, std::string what);
  bool has(std::string_view record) const { return !zip_records(archive_, entries_, record).empty(); }
  // Throws wrn::FileError "<what>: the archive holds N records '<record>' (expected one)".
  std::string_view record(std::string_view record) const;

 private:
  std::string_view archive_;
  std::string what_;
  std::vector<ZipEntry> entries_;
};

}  // namespace wrn::io
