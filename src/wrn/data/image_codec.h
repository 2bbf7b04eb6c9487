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

// Decodes PNG or JPEG `bytes` (the format is told by the signature, not the name). Grey
// (and grey + alpha) images give 1 channel, colour images 3; alpha is dropped. Throws
// wrn::FileError naming `what` on an unknown format or a truncated / corrupt image
// (libjpeg's "premature end of data" warnings count as errors: no grey-padded garbage).
DecodedImage decode_image(const std::string& bytes, const std::string& what);

// decode_image of a file's content; throws wrn::FileError when it is missing.
DecodedImage read_image(const std::string& path);

// uint8 [C, H, W] with `channels` (0: as decoded; 3: grey replicated; 1: colour converted
// with luma_weights()). The tensor owns its memory in every case (it never aliases
// image.pixels), so it outlives a temporary DecodedImage.
torch::Tensor image_to_tensor(const DecodedImage& image, int64_t channels = 0);

// ITU-R 601 luma weights for R, G, B: float32 [3] {0.299, 0.587, 0.114}, the one colour ->
// grey conversion of the readers and of predict.
torch::Tensor luma_weights();

// True for the names the image readers take: .png, .jpg, .jpeg in any case.
bool is_image_file_name(const std::string& path);

}  // namespace wrn::data
