// PNG and JPEG decoding (libpng, libjpeg-turbo) into 8-bit pixels, for image folders and
// for single-image prediction.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace wrn::data {

// An 8-bit image, rows of pixels with interleaved channels (HWC); channels is 1 or 3.
struct DecodedImage {
  int64_t height = 0;
  int64_t width = 0;
  int64_t channels = 0;
  std::vector<uint8_t> pixels;  // height * width * channels
};

// The most pixels (height x width) an image may declare: 2^28 (16384 x 16384). A larger one
// is refused from its header, before any pixel memory is allocated.
constexpr int64_t kMaxImagePixels = int64_t(1) << 28;

// What an image's header says, read without decoding pixels.
struct ImageInfo {
  int64_t height = 0;
  int64_t width = 0;
  int64_t channels = 0;  // as decode_image gives it: 1 or 3
  bool jpeg = false;     // false: PNG
};

// The header of PNG or JPEG `bytes`; throws wrn::FileError naming `what` as decode_image does
// (unknown format, corrupt header, more than kMaxImagePixels, an empty image).
ImageInfo read_image_info(const std::string& bytes, const std::string& what);

// A rectangle of the (scaled) image, in its pixels; height 0 means the whole image.
struct DecodeRegion {
  int64_t top = 0, left = 0, height = 0, width = 0;
};

struct DecodeOptions {
  // JPEG only (PNG ignores it): 1, 2, 4 or 8, libjpeg-turbo's DCT-domain scaling; the
  // decoded size is ceil(H / d) x ceil(W / d).
  int jpeg_scale_denom = 1;
  // Only this region of the (scaled) image is returned; JPEG skips the IDCT and colour
  // conversion of the rows and iMCU columns outside it (the pixels inside are the same as
  // a whole decode's). Must lie inside the scaled image (else wrn::Error).
  DecodeRegion region;
};

// Decodes PNG or JPEG `bytes` (the format is told by the signature, not the name), as PIL's
// Image.open(...).convert("RGB" or "L") gives it. Grey (and grey + alpha) images give 1
// channel, colour images 3. Alpha is dropped, not composited (as PIL's convert); palette
// PNGs become RGB; 16-bit PNGs keep the high byte of each sample; gAMA / iCCP are ignored;
// CMYK and YCCK JPEGs become RGB with PIL's formula (R = (255 - K) - (255 - K) * C / 255,
// rounded; Adobe-marked files inverted first, as Photoshop writes them). Throws
// wrn::FileError naming `what` on an unknown format, more than kMaxImagePixels, or a
// truncated / corrupt image (libjpeg's "premature end of data" warnings count as errors: no
// grey-padded garbage).
DecodedImage decode_image(const std::string& bytes, const std::string& what, const DecodeOptions& options = {});

// decode_image of a file's content; throws wrn::FileError when it is missing.
DecodedImage read_image(const std::string& path);

// uint8 [C, H, W] with `channels` (0: as decoded; 3: grey replicated; 1: colour converted
// with luma_weights()). The tensor owns its memory in every case (it never aliases
// image.pixels), so it outlives a temporary DecodedImage.
torch::Tensor image_to_tensor(const DecodedImage& image, int64_t channels = 0);

// A uint8 batch [N, C, H, W] (C 1 or 3) with `channels` (1 or 3): grey replicated, colour to
// grey by luma_weights() (rounded). Same channel count: the input itself.
torch::Tensor convert_channels(const torch::Tensor& batch_u8, int64_t channels);

// ITU-R 601 luma weights for R, G, B: float32 [3] {0.299, 0.587, 0.114}, the one colour ->
// grey conversion of the readers and of predict.
torch::Tensor luma_weights();

// True for the names the image readers take: .png, .jpg, .jpeg in any case.
bool is_image_file_name(const std::string& path);

}  // namespace wrn::data
