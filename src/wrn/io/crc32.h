// CRC-32 (ISO-HDLC, zlib's crc32: the checksum of zip entries and of wrn checkpoints' payload),
// of any size: zlib takes at most 4 GiB per call, so longer buffers go in 1 GiB chunks.
#pragma once

#include <cstdint>

namespace wrn::io {

uint32_t crc32_of(const char* data, uint64_t size);

}  // namespace wrn::io
