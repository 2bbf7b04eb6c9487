#include "wrn/report/png_writer.h"

#include <png.h>

#include <cstring>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"

namespace wrn::train {
namespace {

// libpng reports errors through a callback that must not return. Throwing a C++ exception
// through libpng's C frames is not portable, so the callback keeps the message and longjmps
// back to the setjmp in the calling function, which then throws. Only C frames (and our
// callbacks, which hold no objects with destructors) lie between the two.
struct PngError {
  std::string message;
};

void on_error(png_structp png, png_const_charp msg) {
  auto* err = static_cast<PngError*>(png_get_error_ptr(png));
  if (err) err->message = msg ? msg : "unknown libpng error";
  png_longjmp(png, 1);
}
void on_warning(png_structp, png_const_charp) {}

void append_bytes(png_structp png, png_bytep data, png_size_t length) {
  auto* out = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + length);
}
void no_flush(png_structp) {}

}  // namespace

RgbImage::RgbImage(int w, int h, uint8_t r, uint8_t g, uint8_t b) : width(w), height(h) {
  WRN_CHECK(w > 0 && h > 0 && w <= 16384 && h <= 16384, "image size {}x{} is out of range 1..16384", w, h);
  pixels.resize(static_cast<size_t>(3) * w * h);
  for (size_t i = 0; i < pixels.size(); i += 3) {
    pixels[i] = r;
    pixels[i + 1] = g;
    pixels[i + 2] = b;
  }
}

std::vector<uint8_t> encode_png(const RgbImage& image) {
  WRN_CHECK(image.width > 0 && image.height > 0 &&
                image.pixels.size() == static_cast<size_t>(3) * image.width * image.height,
            "cannot encode a {}x{} image with {} bytes of pixels", image.width, image.height, image.pixels.size());
  std::vector<uint8_t> out;
  PngError err;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, on_error, on_warning);
  WRN_CHECK_FILE(png != nullptr, "libpng: cannot create a write struct");
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    throw FileError("libpng: cannot create an info struct");
  }
  std::vector<png_bytep> rows(image.height);
  for (int y = 0; y < image.height; ++y) rows[y] = const_cast<png_bytep>(image.at(0, y));
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw FileError("PNG encoding failed: " + err.message);
  }
  png_set_write_fn(png, &out, append_bytes, no_flush);
  png_set_IHDR(png, info, image.width, image.height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 6);
  png_set_rows(png, info, rows.data());
  png_write_png(png, info, PNG_TRANSFORM_IDENTITY, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

void write_png(const std::string& path, const RgbImage& image) {
  const std::vector<uint8_t> bytes = encode_png(image);
  write_file_atomically(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace wrn::train
