#include "wrn/infer/preprocess.h"

#include <ATen/ops/_upsample_bilinear2d_aa.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "wrn/core/error.h"

namespace wrn::infer {

namespace {

// Bilinear (antialiased when shrinking, as PIL/torchvision do) resize of uint8 [C, H, W].
torch::Tensor resize_u8(const torch::Tensor& chw, int64_t h, int64_t w) {
  if (chw.size(1) == h && chw.size(2) == w) return chw;
  auto x = chw.unsqueeze(0).to(torch::kFloat);
  const std::vector<int64_t> size{h, w};
  auto y = at::_upsample_bilinear2d_aa(x, at::IntArrayRef(size), /*align_corners=*/false);
  return y.round_().clamp_(0, 255).to(torch::kUInt8).squeeze(0);
}

}  // namespace

torch::Tensor Preprocess::resize(const data::DecodedImage& image) const {
  WRN_CHECK(image.height > 0 && image.width > 0, "preprocess: empty image");
  WRN_CHECK(input.channels == 1 || input.channels == 3, "preprocess: the model takes {} channels; only 1 or 3 "
            "can come from an image", input.channels);
  auto chw = data::image_to_tensor(image, input.channels);  // owns its memory
  const int64_t h = chw.size(1), w = chw.size(2);
  if (input.imagenet_sized()) {
    const double target = std::round(std::min(input.height, input.width) * 256.0 / 224.0);
    const double scale = target / double(std::min(h, w));
    const int64_t nh = std::max<int64_t>(input.height, std::llround(h * scale));
    const int64_t nw = std::max<int64_t>(input.width, std::llround(w * scale));
    chw = resize_u8(chw, nh, nw);
    const int64_t top = (nh - input.height) / 2, left = (nw - input.width) / 2;
    return chw.narrow(1, top, input.height).narrow(2, left, input.width).contiguous();
  }
  return resize_u8(chw, input.height, input.width).contiguous();
}

torch::Tensor Preprocess::normalize(const torch::Tensor& batch_u8) const {
  if (normalizer.fitted()) return normalizer(batch_u8);
  return batch_u8.to(torch::kFloat).div_(255.0);
}

}  // namespace wrn::infer
