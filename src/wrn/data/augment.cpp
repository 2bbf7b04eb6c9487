// Batched augmentation and image-folder transforms: whole-batch tensor ops, no loops over
// pixels or samples.
#include "wrn/data/augment.h"

#include <torch/nn/functional/upsampling.h>
#include <torch/nn/functional/vision.h>

#include <cmath>

#include "wrn/core/error.h"

namespace wrn::data {

namespace {

void check_batch(const torch::Tensor& images, const char* what) {
  WRN_CHECK(images.defined() && images.dim() == 4, "{}: expected a [B, C, H, W] batch, got {} dims",
            what, images.defined() ? images.dim() : 0);
}

// Source index of output position i shifted by `offset`, mapped into [0, n) by reflection
// (no edge repeat, like torch's reflection padding).
torch::Tensor reflect(const torch::Tensor& index, int64_t n) {
  auto r = index.abs();                            // -k -> k
  return torch::where(r >= n, 2 * (n - 1) - r, r);  // n-1+k -> n-1-k
}

}  // namespace

torch::Tensor augment_batch(const torch::Tensor& images, const AugmentOptions& options,
                            torch::Generator& generator) {
  check_batch(images, "augment_batch");
  const int64_t b = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const int64_t pad = options.pad;
  WRN_CHECK(pad >= 0, "augment: pad must be >= 0, got {}", pad);
  WRN_CHECK(options.pad_mode != PadMode::Reflect || (pad < h && pad < w),
            "augment: reflection padding needs pad < image size, got pad {} for {}x{}", pad, h, w);
  if ((pad == 0 && !options.flip) || b == 0) return images;

  const auto device = images.device();
  const auto draw = torch::TensorOptions().dtype(torch::kInt64).device(generator.device());
  const auto on = torch::TensorOptions().dtype(torch::kInt64).device(device);
  torch::Tensor shift_y = torch::zeros({b, 1}, on), shift_x = torch::zeros({b, 1}, on);
  if (pad > 0) {
    auto offsets = torch::randint(0, 2 * pad + 1, {2, b}, generator, draw).to(device) - pad;
    shift_y = offsets[0].unsqueeze(1);
    shift_x = offsets[1].unsqueeze(1);
  }
  auto ar_h = torch::arange(h, on).unsqueeze(0);  // [1, H]
  auto ar_w = torch::arange(w, on).unsqueeze(0);  // [1, W]
  auto cols_src = ar_w.expand({b, w});
  if (options.flip) {
    auto flip = torch::randint(0, 2, {b}, generator, draw).to(device).to(torch::kBool).unsqueeze(1);
    cols_src = torch::where(flip, (w - 1) - ar_w, ar_w);
  }
  auto rows = ar_h + shift_y;      // [B, H] source rows, possibly outside [0, H)
  auto cols = cols_src + shift_x;  // [B, W] (flip applied after the crop: x[ox + W-1-j])
  torch::Tensor valid;
  if (pad > 0 && options.pad_mode == PadMode::Zeros) {
    valid = ((rows >= 0) & (rows < h)).unsqueeze(2) & ((cols >= 0) & (cols < w)).unsqueeze(1);
    rows = rows.clamp(0, h - 1);
    cols = cols.clamp(0, w - 1);
  } else if (pad > 0) {
    rows = reflect(rows, h);
    cols = reflect(cols, w);
  }
  // One gather over the flattened plane: out[b, c, i, j] = x[b, c, rows[b, i], cols[b, j]].
  auto index = (rows.unsqueeze(2) * w + cols.unsqueeze(1)).view({b, 1, h * w}).expand({b, c, h * w});
  auto out = images.reshape({b, c, h * w}).gather(2, index).view({b, c, h, w});
  if (valid.defined()) out.mul_(valid.unsqueeze(1).to(out.scalar_type()));
  return out;
}

torch::Tensor resize_batch(const torch::Tensor& images, int64_t height, int64_t width) {
  check_batch(images, "resize");
  WRN_CHECK(height > 0 && width > 0, "resize: target size must be positive, got {}x{}", height, width);
  if (images.size(2) == height && images.size(3) == width) return images.contiguous();
  const bool u8 = images.scalar_type() == torch::kUInt8;
  auto x = u8 ? images.to(torch::kFloat32) : images;
  const bool shrink = height < images.size(2) || width < images.size(3);
  namespace F = torch::nn::functional;
  auto y = F::interpolate(x, F::InterpolateFuncOptions()
                                 .size(std::vector<int64_t>{height, width})
                                 .mode(torch::kBilinear)
                                 .align_corners(false)
                                 .antialias(shrink));
  return u8 ? y.round_().clamp_(0, 255).to(torch::kUInt8) : y;
}

torch::Tensor resize_cover_crop(const torch::Tensor& images, int64_t height, int64_t width) {
  check_batch(images, "resize");
  WRN_CHECK(height > 0 && width > 0, "resize: target size must be positive, got {}x{}", height, width);
  const int64_t h = images.size(2), w = images.size(3);
  const double scale = std::max(double(height) / h, double(width) / w);
  const int64_t rh = std::max(height, int64_t(std::lround(h * scale)));
  const int64_t rw = std::max(width, int64_t(std::lround(w * scale)));
  auto resized = resize_batch(images, rh, rw);
  const int64_t top = (rh - height) / 2, left = (rw - width) / 2;
  return resized.narrow(2, top, height).narrow(3, left, width).contiguous();
}

torch::Tensor resize_center_crop(const torch::Tensor& images, int64_t resize, int64_t crop) {
  check_batch(images, "resize_center_crop");
  WRN_CHECK(resize > 0 && crop > 0 && crop <= resize,
            "resize_center_crop: need 0 < crop <= resize, got resize {} crop {}", resize, crop);
  const int64_t h = images.size(2), w = images.size(3);
  // Shorter side to `resize` (as torchvision's Resize(int)), then the center crop.
  const int64_t rh = h <= w ? resize : int64_t(double(resize) * h / w);
  const int64_t rw = h <= w ? int64_t(double(resize) * w / h) : resize;
  auto resized = resize_batch(images, rh, rw);
  return resized.narrow(2, (rh - crop) / 2, crop).narrow(3, (rw - crop) / 2, crop).contiguous();
}

torch::Tensor random_resized_crop(const torch::Tensor& images, const RandomResizedCropOptions& o,
                                  torch::Generator& generator) {
  check_batch(images, "random_resized_crop");
  WRN_CHECK(o.size > 0 && o.scale_min > 0 && o.scale_min <= o.scale_max && o.scale_max <= 1 &&
                o.ratio_min > 0 && o.ratio_min <= o.ratio_max,
            "random_resized_crop: need size > 0, 0 < scale_min <= scale_max <= 1, 0 < ratio_min <= "
            "ratio_max");
  const int64_t b = images.size(0), h = images.size(2), w = images.size(3);
  const auto device = images.device();
  auto u = torch::rand({b, 5}, generator, torch::TensorOptions().device(generator.device()))
               .to(device, torch::kFloat64);
  auto area = (o.scale_min + (o.scale_max - o.scale_min) * u.select(1, 0)) * double(h * w);
  auto log_ratio = std::log(o.ratio_min) + (std::log(o.ratio_max) - std::log(o.ratio_min)) * u.select(1, 1);
  auto ratio = log_ratio.exp();
  auto cw = (area * ratio).sqrt().clamp_max(double(w));  // crop size in pixels
  auto ch = (area / ratio).sqrt().clamp_max(double(h));
  auto cx = cw / 2 + (double(w) - cw) * u.select(1, 2);  // crop center in pixels
  auto cy = ch / 2 + (double(h) - ch) * u.select(1, 3);
  auto sx = cw / double(w);
  if (o.flip) sx = torch::where(u.select(1, 4) < 0.5, -sx, sx);
  auto zero = torch::zeros_like(sx);
  // Normalized coordinates (align_corners=false): pixel x -> 2x/W - 1.
  auto theta = torch::stack({torch::stack({sx, zero, 2 * cx / double(w) - 1}, 1),
                             torch::stack({zero, ch / double(h), 2 * cy / double(h) - 1}, 1)},
                            1);  // [B, 2, 3]
  const bool u8 = images.scalar_type() == torch::kUInt8;
  auto x = images.is_floating_point() ? images : images.to(torch::kFloat32);
  namespace F = torch::nn::functional;
  auto grid = F::affine_grid(theta.to(x.scalar_type()), {b, images.size(1), o.size, o.size}, false);
  auto y = F::grid_sample(x, grid, F::GridSampleFuncOptions()
                                       .mode(torch::kBilinear)
                                       .padding_mode(torch::kBorder)
                                       .align_corners(false));
  return u8 ? y.round_().clamp_(0, 255).to(torch::kUInt8) : y;
}

}  // namespace wrn::data
