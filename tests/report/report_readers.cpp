#include "report_readers.h"

#include <cstring>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/data/image_codec.h"
#include "wrn/report/tensorboard.h"

namespace wrn::train {
namespace {

// A bounds-checked cursor over protobuf bytes; errors name the file and offset.
struct Cursor {
  const std::string& buf;
  size_t pos, end;
  const std::string& path;
  size_t base;  // file offset of buf[0], for messages

  [[noreturn]] void fail(const char* what) const {
    throw FileError(fmt::format("{}: malformed event at byte {}: {}", path, base + pos, what));
  }
  bool done() const { return pos >= end; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= end) fail("truncated varint");
      const uint8_t b = static_cast<uint8_t>(buf[pos++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("varint longer than 10 bytes");
  }
  uint64_t fixed(int bytes) {
    if (end - pos < static_cast<size_t>(bytes)) fail("truncated fixed-width field");
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(buf[pos++])) << (8 * i);
    return v;
  }
  Cursor sub() {
    const uint64_t len = varint();
    if (len > end - pos) fail("length-delimited field runs past its message");
    Cursor c{buf, pos, pos + static_cast<size_t>(len), path, base};
    pos += static_cast<size_t>(len);
    return c;
  }
  void skip(uint32_t wire_type) {
    switch (wire_type) {
      case 0: varint(); break;
      case 1: fixed(8); break;
      case 2: sub(); break;
      case 5: fixed(4); break;
      default: fail("unsupported wire type");
    }
  }
};

std::pair<std::string, float> decode_value(Cursor c) {
  std::pair<std::string, float> out{"", 0.f};
  while (!c.done()) {
    const uint64_t key = c.varint();
    const uint32_t field = static_cast<uint32_t>(key >> 3), wt = key & 7;
    if (field == 1 && wt == 2) {
      Cursor s = c.sub();
      out.first = c.buf.substr(s.pos, s.end - s.pos);
    } else if (field == 2 && wt == 5) {
      const uint32_t bits = static_cast<uint32_t>(c.fixed(4));
      std::memcpy(&out.second, &bits, 4);
    } else {
      c.skip(wt);
    }
  }
  return out;
}

TensorBoardEvent decode_event(Cursor c) {
  TensorBoardEvent ev;
  while (!c.done()) {
    const uint64_t key = c.varint();
    const uint32_t field = static_cast<uint32_t>(key >> 3), wt = key & 7;
    if (field == 1 && wt == 1) {
      const uint64_t bits = c.fixed(8);
      std::memcpy(&ev.wall_time, &bits, 8);
    } else if (field == 2 && wt == 0) {
      ev.step = static_cast<int64_t>(c.varint());
    } else if (field == 3 && wt == 2) {
      Cursor s = c.sub();
      ev.file_version = c.buf.substr(s.pos, s.end - s.pos);
    } else if (field == 5 && wt == 2) {
      Cursor s = c.sub();
      while (!s.done()) {
        const uint64_t k = s.varint();
        if ((k >> 3) == 1 && (k & 7) == 2)
          ev.values.push_back(decode_value(s.sub()));
        else
          s.skip(k & 7);
      }
    } else {
      c.skip(wt);
    }
  }
  return ev;
}

uint64_t read_le(const std::string& s, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(s[pos + i])) << (8 * i);
  return v;
}

}  // namespace

RgbImage read_png(const std::string& path) {
  // The data layer's decoder (what predict and image folders use), as RGB.
  const std::string bytes = read_file(path);
  WRN_CHECK_FILE(bytes.size() >= 8 && bytes.compare(0, 8, "\x89PNG\r\n\x1a\n", 8) == 0,
                 "{}: not a PNG file (bad signature)", path);
  const auto decoded = data::decode_image(bytes, path);
  RgbImage image(static_cast<int>(decoded.width), static_cast<int>(decoded.height));
  for (int64_t i = 0; i < decoded.width * decoded.height; ++i) {
    for (int c = 0; c < 3; ++c) {
      image.pixels[3 * i + c] = decoded.pixels[i * decoded.channels + (decoded.channels == 3 ? c : 0)];
    }
  }
  return image;
}

std::vector<TensorBoardEvent> read_tensorboard_events(const std::string& path) {
  const std::string data = read_file(path);
  std::vector<TensorBoardEvent> out;
  size_t pos = 0;
  while (pos < data.size()) {
    WRN_CHECK_FILE(data.size() - pos >= 12, "{}: truncated record header at byte {}", path, pos);
    const uint64_t len = read_le(data, pos, 8);
    const uint32_t len_crc = static_cast<uint32_t>(read_le(data, pos + 8, 4));
    WRN_CHECK_FILE(masked_crc32c(data.data() + pos, 8) == len_crc, "{}: bad length CRC at byte {}", path, pos);
    WRN_CHECK_FILE(len <= data.size() - pos - 12 && data.size() - pos - 12 - len >= 4,
                   "{}: truncated record at byte {} (length {})", path, pos, len);
    const size_t start = pos + 12;
    const uint32_t data_crc = static_cast<uint32_t>(read_le(data, start + len, 4));
    WRN_CHECK_FILE(masked_crc32c(data.data() + start, len) == data_crc, "{}: bad data CRC in record at byte {}",
                   path, pos);
    out.push_back(decode_event(Cursor{data, start, start + static_cast<size_t>(len), path, 0}));
    pos = start + len + 4;
  }
  return out;
}

}  // namespace wrn::train
