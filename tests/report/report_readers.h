// Readers for what the run-directory reports write, used only by the tests: PNG files
// (through the data layer's decoder) and TensorBoard event files (TFRecords of hand-decoded Event protobufs).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "wrn/report/png_writer.h"

namespace wrn::train {

// Decodes a PNG file into 8-bit RGB (palette, grey, 16-bit and alpha are converted; alpha
// is dropped). Throws wrn::FileError naming the file when it is missing or not a valid PNG.
RgbImage read_png(const std::string& path);

// One decoded Event of an event file; `values` is empty for the file-version record.
struct TensorBoardEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  std::vector<std::pair<std::string, float>> values;  // (tag, simple_value)
};

// Reads an event file back, checking every length and data CRC. Fields it does not know are
// skipped. Throws wrn::FileError naming the file and byte offset on a bad CRC, a truncated
// record or malformed protobuf.
std::vector<TensorBoardEvent> read_tensorboard_events(const std::string& path);

}  // namespace wrn::train
