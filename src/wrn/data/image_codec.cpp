#include "wrn/data/image_codec.h"

#include <png.h>
// jpeglib.h needs FILE and size_t declared first.
#include <cstdio>
#include <csetjmp>
#include <jpeglib.h>

#include <cstring>
#include <filesystem>

#include "wrn/core/error.h"
#include "wrn/core/text.h"
#include "wrn/data/file_bytes.h"

namespace wrn::data {

namespace {

bool is_png(const std::string& b) {
  return b.size() >= 8 && std::memcmp(b.data(), "\x89PNG\r\n\x1a\n", 8) == 0;
}
bool is_jpeg(const std::string& b) {
  return b.size() >= 3 && static_cast<unsigned char>(b[0]) == 0xFF &&
         static_cast<unsigned char>(b[1]) == 0xD8 && static_cast<unsigned char>(b[2]) == 0xFF;
}

DecodedImage decode_png(const std::string& bytes, const std::string& what) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) {
    const std::string message = image.message;
    png_image_free(&image);
    throw FileError(fmt::format("{}: corrupt PNG ({})", what, message));
  }
  const bool colour = (image.format & PNG_FORMAT_FLAG_COLOR) != 0;
  image.format = colour ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  DecodedImage out;
  out.height = image.height;
  out.width = image.width;
  out.channels = colour ? 3 : 1;
  out.pixels.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, out.pixels.data(), 0, nullptr)) {
    const std::string message = image.message;
    png_image_free(&image);
    throw FileError(fmt::format("{}: truncated or corrupt PNG ({})", what, message));
  }
  return out;
}

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_fail(j_common_ptr info) {
  auto* err = reinterpret_cast<JpegError*>(info->err);
  (*info->err->format_message)(info, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (level -1) such as "Premature end of JPEG file" mean corrupt data: fail.
void jpeg_message(j_common_ptr info, int level) {
  if (level < 0) jpeg_fail(info);
}

DecodedImage decode_jpeg(const std::string& bytes, const std::string& what) {
  // Everything with a destructor lives before setjmp: longjmp must not skip one.
  DecodedImage out;
  jpeg_decompress_struct info;
  JpegError err;
  std::memset(&info, 0, sizeof info);
  info.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.emit_message = jpeg_message;
  err.message[0] = '\0';
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&info);
    throw FileError(fmt::format("{}: truncated or corrupt JPEG ({})", what, err.message));
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  const bool grey = info.num_components == 1;
  if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&info);
    throw FileError(fmt::format("{}: CMYK JPEG images are not supported (convert to RGB)", what));
  }
  info.out_color_space = grey ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&info);
  out.height = info.output_height;
  out.width = info.output_width;
  out.channels = info.output_components;
  out.pixels.resize(static_cast<size_t>(out.height * out.width * out.channels));
  const size_t stride = static_cast<size_t>(out.width * out.channels);
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = out.pixels.data() + info.output_scanline * stride;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return out;
}

}  // namespace

DecodedImage decode_image(const std::string& bytes, const std::string& what) {
  DecodedImage image;
  if (is_png(bytes)) {
    image = decode_png(bytes, what);
  } else if (is_jpeg(bytes)) {
    image = decode_jpeg(bytes, what);
  } else {
    throw FileError(fmt::format("{}: not a PNG or JPEG image", what));
  }
  WRN_CHECK_FILE(image.height > 0 && image.width > 0, "{}: empty image", what);
  return image;
}

DecodedImage read_image(const std::string& path) {
  return decode_image(detail::read_bytes(path), path);
}

torch::Tensor image_to_tensor(const DecodedImage& image, int64_t channels) {
  WRN_CHECK(channels == 0 || channels == 1 || channels == 3,
            "image channels must be 0 (as decoded), 1 or 3, got {}", channels);
  auto hwc = torch::from_blob(const_cast<uint8_t*>(image.pixels.data()),
                              {image.height, image.width, image.channels}, torch::kUInt8);
  auto chw = hwc.permute({2, 0, 1});
  // clone(), not contiguous(): a one-channel [1, H, W] view of the buffer is already
  // contiguous, and contiguous() would return the alias.
  if (channels == 0 || channels == image.channels) return chw.clone(at::MemoryFormat::Contiguous);
  if (channels == 3) return chw.expand({3, image.height, image.width}).contiguous();
  // Colour to grey.
  return (chw.to(torch::kFloat32) * luma_weights().view({3, 1, 1})).sum(0, true).round().clamp(0, 255).to(torch::kUInt8);
}

torch::Tensor luma_weights() { return torch::tensor({0.299f, 0.587f, 0.114f}); }

bool is_image_file_name(const std::string& path) {
  const std::string ext = to_lower(std::filesystem::path(path).extension().string());
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

}  // namespace wrn::data
