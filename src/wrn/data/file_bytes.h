// Internal helpers of the readers: whole-file reads (plain or gzip) and file lookup.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wrn::data::detail {

// The bytes of `path`. A name ending in ".gz" is decompressed with zlib; a truncated or
// corrupt gzip stream throws wrn::FileError naming the file (never returns partial data).
// Throws wrn::FileError when the file is missing or unreadable.
std::string read_bytes(const std::string& path);

// The first of `dir`/name for name in `names` that exists as a regular file, or "" when none.
std::string find_first(const std::string& dir, const std::vector<std::string>& names);

// `base` or `base`.gz inside `dir`; throws wrn::FileError naming both when neither exists.
std::string find_plain_or_gz(const std::string& dir, const std::string& base);

// Big-endian 32-bit unsigned at `offset` (caller checks the size).
uint32_t read_be32(const std::string& bytes, size_t offset);

bool is_regular_file(const std::string& path);
bool is_directory(const std::string& path);

}  // namespace wrn::data::detail
