// Message digests of files and buffers, as lowercase hex strings (OpenSSL's libcrypto).
//
// MD5 is what the data sets' publishers list, so it is what the downloader checks; it
// guards against truncated or corrupted transfers, not against a malicious server.
#pragma once

#include <string>
#include <string_view>

namespace wrn::data {

enum class HashAlgorithm { kMd5, kSha256 };

// The digest of `bytes` as lowercase hex (32 characters for MD5, 64 for SHA-256).
std::string hash_hex(std::string_view bytes, HashAlgorithm algorithm = HashAlgorithm::kMd5);

// The digest of the whole file at `path`, read in chunks (constant memory).
// Throws wrn::FileError naming the file when it cannot be opened or read.
std::string hash_file_hex(const std::string& path, HashAlgorithm algorithm = HashAlgorithm::kMd5);

// Shorthands for MD5.
inline std::string md5_hex(std::string_view bytes) { return hash_hex(bytes, HashAlgorithm::kMd5); }
inline std::string md5_file(const std::string& path) { return hash_file_hex(path, HashAlgorithm::kMd5); }

}  // namespace wrn::data
