#include "wrn/data/image_codec.h"

#include <png.h>
// jpeglib.h needs FILE and size_t declared first.
#include <cstdio>
#include <csetjmp>
#include <jpeglib.h>

#include <algorithm>
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

void check_pixels(int64_t height, int64_t width, const std::string& what) {
  WRN_CHECK_FILE(height > 0 && width > 0, "{}: empty image", what);
  // Each side first: a crafted header's sides (up to 2^32 - 1) overflow their product.
  WRN_CHECK_FILE(height <= kMaxImagePixels && width <= kMaxImagePixels && height * width <= kMaxImagePixels,
                 "{}: {}x{} pixels is more than the {} an image may have (2^28)", what, width, height,
                 kMaxImagePixels);
}

// libpng's regular API (not the simplified one: it composites alpha onto a background and
// gamma-encodes 16-bit samples as linear light, where PIL drops alpha and keeps the high byte).
struct PngReader {
  const std::string* bytes = nullptr;
  size_t offset = 0;
  std::string message;
};

void png_read_memory(png_structp png, png_bytep out, png_size_t count) {
  auto* reader = static_cast<PngReader*>(png_get_io_ptr(png));
  if (reader->offset + count > reader->bytes->size()) png_error(png, "unexpected end of file");
  std::memcpy(out, reader->bytes->data() + reader->offset, count);
  reader->offset += count;
}

void png_fail(png_structp png, png_const_charp message) {
  static_cast<PngReader*>(png_get_error_ptr(png))->message = message;
  png_longjmp(png, 1);
}

void png_warn(png_structp, png_const_charp) {}

// The PNG header's size and channels (the IHDR chunk comes first, at a fixed offset).
ImageInfo png_info(const std::string& bytes, const std::string& what) {
  WRN_CHECK_FILE(bytes.size() >= 33 && std::memcmp(bytes.data() + 12, "IHDR", 4) == 0,
                 "{}: corrupt PNG (no IHDR header)", what);
  auto be32 = [&](size_t at) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + at);
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
  };
  ImageInfo info;
  info.width = be32(16);
  info.height = be32(20);
  const int colour_type = static_cast<unsigned char>(bytes[25]);
  info.channels = (colour_type & PNG_COLOR_MASK_COLOR) ? 3 : 1;  // palette (3) has the colour bit
  check_pixels(info.height, info.width, what);
  return info;
}

DecodedImage decode_png(const std::string& bytes, const std::string& what) {
  png_info(bytes, what);  // the pixel limit, before libpng allocates anything
  // Everything with a destructor lives before setjmp: longjmp must not skip one.
  DecodedImage out;
  PngReader reader;
  reader.bytes = &bytes;
  std::vector<png_bytep> rows;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, png_fail, png_warn);
  WRN_CHECK(png != nullptr, "{}: cannot create a PNG reader", what);
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    throw FileError(fmt::format("{}: cannot create a PNG reader", what));
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw FileError(fmt::format("{}: truncated or corrupt PNG ({})", what, reader.message));
  }
  png_set_read_fn(png, &reader, png_read_memory);
  png_read_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  const int colour_type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  if (colour_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);  // tRNS stays ignored
  if (colour_type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_strip_16(png);
  if (colour_type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  out.height = height;
  out.width = width;
  out.channels = png_get_channels(png, info);
  if (png_get_rowbytes(png, info) != size_t(out.width * out.channels) ||
      (out.channels != 1 && out.channels != 3)) {
    reader.message = "unsupported pixel layout";
    png_longjmp(png, 1);
  }
  out.pixels.resize(size_t(out.height * out.width * out.channels));
  rows.resize(size_t(out.height));
  for (int64_t y = 0; y < out.height; ++y) rows[size_t(y)] = out.pixels.data() + y * out.width * out.channels;
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
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

// PIL's CMYK -> RGB (Convert.c cmyk2rgb): nk = 255 - K, R = nk - round(C * nk / 255).
inline uint8_t cmyk_channel(int c, int nk) {
  const int t = c * nk + 128;
  return static_cast<uint8_t>(std::clamp(nk - (((t >> 8) + t) >> 8), 0, 255));
}

// Decodes `bytes` as a JPEG; with `header_only`, stops after the header (out has the size
// and channels of a full decode, no pixels).
DecodedImage decode_jpeg(const std::string& bytes, const std::string& what, const DecodeOptions& options,
                         bool header_only) {
  const int denom = options.jpeg_scale_denom;
  WRN_CHECK(denom == 1 || denom == 2 || denom == 4 || denom == 8,
            "{}: the JPEG scale denominator must be 1, 2, 4 or 8, got {}", what, denom);
  // Everything with a destructor lives before setjmp: longjmp must not skip one.
  DecodedImage out;
  std::vector<uint8_t> row_buffer;
  std::string limit_error;
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
  const int64_t full_h = info.image_height, full_w = info.image_width;
  if (full_h <= 0 || full_w <= 0 || full_h * full_w > kMaxImagePixels) {
    jpeg_destroy_decompress(&info);
    check_pixels(full_h, full_w, what);
  }
  const bool cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
  const bool grey = info.num_components == 1;
  out.channels = grey ? 1 : 3;
  if (header_only) {
    out.height = full_h;
    out.width = full_w;
    jpeg_destroy_decompress(&info);
    return out;
  }
  // libjpeg converts YCCK to CMYK itself; PIL's CMYK -> RGB is done below.
  info.out_color_space = grey ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
  const bool inverted = cmyk && info.saw_Adobe_marker;
  info.scale_num = 1;
  info.scale_denom = static_cast<unsigned>(denom);
  jpeg_start_decompress(&info);
  const int64_t scaled_h = info.output_height, scaled_w = info.output_width;
  DecodeRegion region = options.region;
  if (region.height == 0) region = DecodeRegion{0, 0, scaled_h, scaled_w};
  if (region.top < 0 || region.left < 0 || region.height <= 0 || region.width <= 0 ||
      region.top + region.height > scaled_h || region.left + region.width > scaled_w) {
    limit_error = fmt::format("{}: decode region {}x{} at ({}, {}) is outside the {}x{} image", what,
                              region.height, region.width, region.top, region.left, scaled_h, scaled_w);
    jpeg_destroy_decompress(&info);
    throw ConfigError(limit_error);
  }
  // Columns: libjpeg-turbo widens the crop to iMCU boundaries; `skip` pixels are dropped. The
  // request is widened by kMargin pixels first: fancy (triangle) chroma upsampling replicates
  // the edge sample of a cropped row, so the columns next to a crop edge would differ from a
  // whole decode's.
  constexpr int64_t kMargin = 4;
  const int64_t want_left = std::max<int64_t>(0, region.left - kMargin);
  const int64_t want_right = std::min(scaled_w, region.left + region.width + kMargin);
  JDIMENSION xoffset = static_cast<JDIMENSION>(want_left), crop_w = static_cast<JDIMENSION>(want_right - want_left);
  if (want_left != 0 || want_right != scaled_w) jpeg_crop_scanline(&info, &xoffset, &crop_w);
  const int64_t skip = region.left - int64_t(xoffset);
  const int64_t in_components = info.output_components;  // 1, 3 or 4
  out.height = region.height;
  out.width = region.width;
  out.pixels.resize(static_cast<size_t>(out.height * out.width * out.channels));
  const bool direct = !cmyk && skip == 0 && int64_t(crop_w) == region.width;
  row_buffer.resize(direct ? 0 : static_cast<size_t>(int64_t(crop_w) * in_components));
  if (region.top > 0) jpeg_skip_scanlines(&info, static_cast<JDIMENSION>(region.top));
  const size_t stride = static_cast<size_t>(out.width * out.channels);
  for (int64_t y = 0; y < region.height; ++y) {
    uint8_t* dst = out.pixels.data() + size_t(y) * stride;
    JSAMPROW row = direct ? dst : row_buffer.data();
    jpeg_read_scanlines(&info, &row, 1);
    if (direct) continue;
    const uint8_t* src = row_buffer.data() + skip * in_components;
    if (!cmyk) {
      std::memcpy(dst, src, stride);
      continue;
    }
    for (int64_t x = 0; x < out.width; ++x, src += 4, dst += 3) {
      const int c = inverted ? 255 - src[0] : src[0], m = inverted ? 255 - src[1] : src[1];
      const int yy = inverted ? 255 - src[2] : src[2], k = inverted ? 255 - src[3] : src[3];
      const int nk = 255 - k;
      dst[0] = cmyk_channel(c, nk);
      dst[1] = cmyk_channel(m, nk);
      dst[2] = cmyk_channel(yy, nk);
    }
  }
  // The rest is still read (entropy-decoded only), so a truncated file fails whatever the region.
  if (info.output_scanline < info.output_height)
    jpeg_skip_scanlines(&info, info.output_height - info.output_scanline);
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return out;
}

}  // namespace

ImageInfo read_image_info(const std::string& bytes, const std::string& what) {
  if (is_png(bytes)) return png_info(bytes, what);
  WRN_CHECK_FILE(is_jpeg(bytes), "{}: not a PNG or JPEG image", what);
  const DecodedImage header = decode_jpeg(bytes, what, DecodeOptions{}, /*header_only=*/true);
  ImageInfo info;
  info.height = header.height;
  info.width = header.width;
  info.channels = header.channels;
  info.jpeg = true;
  return info;
}

DecodedImage decode_image(const std::string& bytes, const std::string& what, const DecodeOptions& options) {
  DecodedImage image;
  if (is_png(bytes)) {
    image = decode_png(bytes, what);
    const DecodeRegion& r = options.region;
    if (r.height != 0 && (r.top != 0 || r.left != 0 || r.height != image.height || r.width != image.width)) {
      WRN_CHECK(r.top >= 0 && r.left >= 0 && r.height > 0 && r.width > 0 && r.top + r.height <= image.height &&
                    r.left + r.width <= image.width,
                "{}: decode region {}x{} at ({}, {}) is outside the {}x{} image", what, r.height, r.width, r.top,
                r.left, image.height, image.width);
      DecodedImage cropped;
      cropped.height = r.height;
      cropped.width = r.width;
      cropped.channels = image.channels;
      cropped.pixels.resize(size_t(r.height * r.width * image.channels));
      const size_t row = size_t(r.width * image.channels);
      for (int64_t y = 0; y < r.height; ++y)
        std::memcpy(cropped.pixels.data() + y * row,
                    image.pixels.data() + ((r.top + y) * image.width + r.left) * image.channels, row);
      image = std::move(cropped);
    }
  } else if (is_jpeg(bytes)) {
    image = decode_jpeg(bytes, what, options, /*header_only=*/false);
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
  return convert_channels(chw.unsqueeze(0), channels)[0];
}

torch::Tensor convert_channels(const torch::Tensor& batch, int64_t channels) {
  WRN_CHECK(batch.dim() == 4 && (batch.size(1) == 1 || batch.size(1) == 3) && (channels == 1 || channels == 3),
            "convert_channels: expected a [N, 1 or 3, H, W] batch and 1 or 3 channels");
  if (batch.size(1) == channels) return batch;
  if (channels == 3) return batch.expand({-1, 3, -1, -1}).contiguous();
  // RGB to grey a band of rows at a time: the float temporaries of the whole image were 5x its
  // float size (a 16000x16000 photo took 10 GB to predict). Per pixel the arithmetic is the same.
  const auto weights = luma_weights().view({1, 3, 1, 1});
  const int64_t n = batch.size(0), h = batch.size(2), w = batch.size(3);
  auto out = torch::empty({n, 1, h, w}, batch.options().dtype(torch::kUInt8));
  const int64_t band = std::max<int64_t>(1, (int64_t(1) << 20) / std::max<int64_t>(w, 1));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t y = 0; y < h; y += band) {
      const int64_t rows = std::min(band, h - y);
      auto part = batch.narrow(0, i, 1).narrow(2, y, rows);
      out.narrow(0, i, 1).narrow(2, y, rows).copy_(
          (part.to(torch::kFloat32) * weights).sum(1, true).round().clamp(0, 255).to(torch::kUInt8));
    }
  }
  return out;
}

torch::Tensor luma_weights() { return torch::tensor({0.299f, 0.587f, 0.114f}); }

bool is_image_file_name(const std::string& path) {
  const std::string ext = to_lower(std::filesystem::path(path).extension().string());
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

}  // namespace wrn::data
