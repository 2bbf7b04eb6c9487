// Helpers for the data-layer tests: temporary directories and writers for the real file
// formats (IDX, gzip, PNG, JPEG).
#pragma once

#include <gtest/gtest.h>
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "wrn/core/error.h"

namespace wrn::data::testing {

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const;  // path()/name, creating parent folders

 private:
  std::string path_;
};

void write_bytes(const std::string& path, const std::string& bytes);
void write_gzip(const std::string& path, const std::string& bytes);
std::string read_all(const std::string& path);
void truncate_file(const std::string& path, size_t keep_bytes);

// Big-endian 32-bit value as 4 bytes.
std::string be32(uint32_t v);

// An IDX image file (magic 0x803) of uint8 [N, H, W] `images` and a label file (0x801).
std::string idx_images(const torch::Tensor& images_u8);
std::string idx_labels(const torch::Tensor& labels_u8);

// 8-bit PNG / JPEG from a uint8 [C, H, W] tensor, C = 1 or 3 (PNG: also 4, RGBA).
void write_png(const std::string& path, const torch::Tensor& chw);
void write_jpeg(const std::string& path, const torch::Tensor& chw, int quality = 95);
// The same with the encoder's options; C = 4 writes CMYK (libjpeg adds the Adobe marker, so
// readers take the samples as inverted), stored as YCCK when `ycck`.
struct JpegWriteOptions {
  int quality = 95;
  bool progressive = false;
  bool ycck = false;
  bool no_subsampling = false;  // every component at full resolution
};
void write_jpeg(const std::string& path, const torch::Tensor& chw, const JpegWriteOptions& options);

// Expects `fn` to throw wrn::FileError whose message contains every string in `parts`.
void expect_file_error(const std::function<void()>& fn, const std::vector<std::string>& parts);

}  // namespace wrn::data::testing
