#include "wrn/io/crc32.h"

#include <zlib.h>

#include <algorithm>

namespace wrn::io {

uint32_t crc32_of(const char* data, uint64_t size) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  while (size > 0) {
    const auto chunk = static_cast<uInt>(std::min<uint64_t>(size, uint64_t{1} << 30));
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
    data += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace wrn::io
