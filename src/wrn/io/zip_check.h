// A strict check of a zip archive in memory, before LibTorch's zip reader (miniz) sees it:
// the containers of torch.save (.pt) and of torch::pickle_save (a wrn checkpoint's payload).
// miniz trusts the central directory: a crafted one made it overflow a heap buffer, and it
// never compares an entry's CRC-32, so a flipped byte inside a tensor went unnoticed.
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

}  // namespace wrn::io
