// 8-bit RGB images in memory and their PNG encoding (libpng).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wrn::train {

// A row-major 8-bit RGB image: pixel (x, y) is at pixels[3 * (y * width + x)].
// Guarantees: pixels.size() == 3 * width * height.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;

  RgbImage() = default;
  // Throws wrn::ConfigError unless 0 < width, height <= 16384.
  RgbImage(int width, int height, uint8_t r = 255, uint8_t g = 255, uint8_t b = 255);
  uint8_t* at(int x, int y) { return &pixels[3 * (static_cast<size_t>(y) * width + x)]; }
  const uint8_t* at(int x, int y) const { return &pixels[3 * (static_cast<size_t>(y) * width + x)]; }
};

// Encodes the image as an 8-bit RGB PNG.
std::vector<uint8_t> encode_png(const RgbImage& image);

// Writes the image as a PNG file atomically (temporary file + rename).
// Throws wrn::FileError naming the file when it cannot be written.
void write_png(const std::string& path, const RgbImage& image);

}  // namespace wrn::train
