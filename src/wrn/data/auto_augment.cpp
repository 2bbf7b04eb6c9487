// TrivialAugment-Wide and RandAugment on whole batches: torchvision 0.14's ops
// (transforms/autoaugment.py _apply_op -> functional.py -> functional_tensor.py) written as the
// same tensor ops on [B, C, H, W], with per-image magnitudes as [B, 1, 1, 1] tensors.
//
// Exactness notes (why each op equals torchvision's bit for bit on the CPU):
// - Python floats are doubles and LibTorch's scalar kernels cast a double scalar to the
//   tensor's float32: factors are computed in double (1 + m, 1 - (1 + m)) and cast once.
// - Geometric ops: the inverse affine matrix is computed per image on the host in double with
//   the formula and operation order of _get_inverse_affine_matrix (math.radians/degrees are
//   x * pi/180 and x / (pi/180) in CPython); theta is cast to float32 and the grid is built as
//   _gen_affine_grid builds it (float32 linspace, theta^T / [w/2, h/2], bmm), one matrix per
//   image, so grid_sample's nearest rounding sees the same coordinates. (Built without -march,
//   so the compiler contracts no a*b+c into an FMA; an FMA build could move a matrix entry by
//   one ulp.)
// - Contrast's grey mean: a float32 mean of integers, exact (so independent of the reduction
//   order, batched or not) while H * W * 255 < 2^24, i.e. up to 65793 pixels (256 x 256).
// - Sharpness's smoothing: conv2d with torchvision's float32 kernel (1/13, centre 5/13); a
//   3x3 sum over 13 is never within float error of .5, so its rounding is exact either way.
#include "wrn/data/auto_augment.h"

#include <torch/nn/functional/conv.h>
#include <torch/nn/functional/vision.h>

#include <array>
#include <cmath>
#include <vector>

#include "wrn/core/error.h"

namespace wrn::data {

namespace {

constexpr double kPi = 3.14159265358979323846;  // CPython's Py_MATH_PI
constexpr double kDegToRad = kPi / 180.0;       // CPython's math.radians(x) = x * degToRad
double radians(double x) { return x * kDegToRad; }
double degrees(double x) { return x / kDegToRad; }

// torchvision.transforms.functional._get_inverse_affine_matrix (inverted=True), same order of
// operations: the matrix mapping output to input pixel coordinates, centre-relative.
std::array<double, 6> inverse_affine_matrix(const std::array<double, 2>& center, double angle,
                                            const std::array<double, 2>& translate, double scale,
                                            const std::array<double, 2>& shear) {
  const double rot = radians(angle);
  const double sx = radians(shear[0]);
  const double sy = radians(shear[1]);
  const double cx = center[0], cy = center[1];
  const double tx = translate[0], ty = translate[1];
  const double a = std::cos(rot - sy) / std::cos(sy);
  const double b = -std::cos(rot - sy) * std::tan(sx) / std::cos(sy) - std::sin(rot);
  const double c = std::sin(rot - sy) / std::cos(sy);
  const double d = -std::sin(rot - sy) * std::tan(sx) / std::cos(sy) + std::cos(rot);
  std::array<double, 6> m = {d, -b, 0.0, -c, a, 0.0};
  for (auto& v : m) v = v / scale;
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

// torchvision.transforms.functional_tensor._gen_affine_grid for output size = input size,
// with theta [B, 2, 3] float32: the [B, H, W, 2] grid for grid_sample (align_corners=False).
torch::Tensor affine_grid(const torch::Tensor& theta, int64_t h, int64_t w) {
  const auto opts = theta.options();
  const double d = 0.5;
  auto base = torch::empty({1, h, w, 3}, opts);
  base.select(3, 0).copy_(torch::linspace(-w * 0.5 + d, w * 0.5 + d - 1, w, opts));
  base.select(3, 1).copy_(torch::linspace(-h * 0.5 + d, h * 0.5 + d - 1, h, opts).unsqueeze_(-1));
  base.select(3, 2).fill_(1);
  auto rescaled = theta.transpose(1, 2) / torch::tensor({0.5 * w, 0.5 * h}, opts);  // [B, 3, 2]
  const int64_t b = theta.size(0);
  return base.view({1, h * w, 3}).expand({b, h * w, 3}).bmm(rescaled).view({b, h, w, 2});
}

// Nearest sampling through per-image inverse matrices (torchvision's _apply_grid_transform with
// fill None: zeros outside; the float result rounded back to uint8).
torch::Tensor warp(const torch::Tensor& images, const std::vector<std::array<double, 6>>& matrices) {
  const int64_t b = images.size(0), h = images.size(2), w = images.size(3);
  auto host = torch::empty({b, 6}, torch::kFloat64);
  auto acc = host.accessor<double, 2>();
  for (int64_t i = 0; i < b; ++i)
    for (int k = 0; k < 6; ++k) acc[i][k] = matrices[size_t(i)][size_t(k)];
  auto theta = host.to(torch::kFloat32).view({b, 2, 3}).to(images.device());
  auto grid = affine_grid(theta, h, w);
  namespace F = torch::nn::functional;
  auto out = F::grid_sample(images.to(torch::kFloat32), grid,
                            F::GridSampleFuncOptions().mode(torch::kNearest).padding_mode(torch::kZeros).align_corners(false));
  return out.round_().to(torch::kUInt8);
}

// functional_tensor._blend(img1, img2, ratio): (ratio * img1 + (1 - ratio) * img2) clamped to
// [0, 255], truncated to uint8. `factors` holds the per-image ratios in double.
torch::Tensor blend(const torch::Tensor& img1, const torch::Tensor& img2, const torch::Tensor& factors_f64) {
  const auto dev = img1.device();
  auto r1 = factors_f64.to(torch::kFloat32).view({-1, 1, 1, 1}).to(dev);
  auto r2 = (1.0 - factors_f64).to(torch::kFloat32).view({-1, 1, 1, 1}).to(dev);
  auto x = img1.to(torch::kFloat32) * r1;
  if (img2.defined()) x = x + img2.to(torch::kFloat32) * r2;
  return x.clamp_(0, 255.0).to(torch::kUInt8);
}

// functional_tensor.rgb_to_grayscale (num_output_channels 1): uint8 [B, 1, H, W].
torch::Tensor grayscale(const torch::Tensor& images) {
  if (images.size(1) == 1) return images.clone();
  auto f = images.to(torch::kFloat32);
  auto l = f.select(1, 0) * 0.2989 + f.select(1, 1) * 0.587 + f.select(1, 2) * 0.114;
  return l.to(torch::kUInt8).unsqueeze(1);
}

// functional_tensor._blurred_degenerate_image: the 3x3 smoothing (1 1 1 / 1 5 1 / 1 1 1) / 13 of
// the interior, border pixels kept.
torch::Tensor blurred(const torch::Tensor& images) {
  const int64_t c = images.size(1);
  auto kernel = torch::ones({3, 3}, images.options().dtype(torch::kFloat32));
  kernel[1][1] = 5.0;
  kernel /= kernel.sum();
  kernel = kernel.expand({c, 1, 3, 3});
  namespace F = torch::nn::functional;
  auto smooth = F::conv2d(images.to(torch::kFloat32), kernel, F::Conv2dFuncOptions().groups(c));
  auto result = images.clone();
  result.narrow(2, 1, images.size(2) - 2).narrow(3, 1, images.size(3) - 2).copy_(smooth.round_().to(torch::kUInt8));
  return result;
}

// functional_tensor.equalize per image and channel, for the whole batch at once: 256-bin
// histograms by scatter_add, torchvision's step / lut arithmetic in int64, a gather.
torch::Tensor equalize(const torch::Tensor& images) {
  const int64_t b = images.size(0), c = images.size(1), hw = images.size(2) * images.size(3);
  auto x = images.reshape({b * c, hw}).to(torch::kInt64);
  auto hist = torch::zeros({b * c, 256}, x.options()).scatter_add_(1, x, torch::ones_like(x));
  // nonzero_hist[:-1].sum(): every count but the last non-empty bin's, i.e. the maximum's.
  auto last = hist.gather(1, std::get<0>(x.max(1, true)));
  auto step = torch::div(hw - last, 255, "floor");  // [BC, 1]
  auto safe = step.clamp_min(1);
  auto lut = torch::div(hist.cumsum(1) + torch::div(step, 2, "floor"), safe, "floor");
  lut = torch::cat({torch::zeros({b * c, 1}, lut.options()), lut.narrow(1, 0, 255)}, 1).clamp_(0, 255);
  auto out = torch::where(step == 0, x, lut.gather(1, x));
  return out.to(torch::kUInt8).view(images.sizes());
}

// functional_tensor.autocontrast: per image and channel, (x - min) * 255 / (max - min), flat
// channels (max == min) unchanged.
torch::Tensor autocontrast(const torch::Tensor& images) {
  auto minimum = images.amin({2, 3}, true).to(torch::kFloat32);
  auto maximum = images.amax({2, 3}, true).to(torch::kFloat32);
  // Python's `255.0 / t` is Tensor.__rtruediv__: t.reciprocal() * 255.0 (not one division).
  auto scale = (maximum - minimum).reciprocal() * 255.0;
  auto flat = torch::isfinite(scale).logical_not();
  minimum.masked_fill_(flat, 0);
  scale.masked_fill_(flat, 1);
  return ((images - minimum) * scale).clamp_(0, 255.0).to(torch::kUInt8);
}

void check_images(const torch::Tensor& images, const char* what) {
  WRN_CHECK(images.defined() && images.dim() == 4, "{}: expected a uint8 [B, C, H, W] batch, got {} dims", what,
            images.defined() ? images.dim() : 0);
  WRN_CHECK(images.scalar_type() == torch::kUInt8, "{}: expected a uint8 batch, got {}", what,
            c10::toString(images.scalar_type()));
  WRN_CHECK(images.size(1) == 1 || images.size(1) == 3, "{}: expected 1 or 3 channels, got {}", what,
            images.size(1));
}

void check_options(const AutoAugmentOptions& o) {
  WRN_CHECK(o.num_magnitude_bins >= 2, "auto_augment: num_magnitude_bins must be >= 2, got {}",
            o.num_magnitude_bins);
  if (o.kind == AutoAugmentKind::RandAugment) {
    WRN_CHECK(o.num_ops >= 0, "auto_augment: RandAugment num_ops must be >= 0, got {}", o.num_ops);
    WRN_CHECK(o.magnitude >= 0 && o.magnitude < o.num_magnitude_bins,
              "auto_augment: RandAugment magnitude must be in [0, num_magnitude_bins = {}), got {}",
              o.num_magnitude_bins, o.magnitude);
  }
}

AugmentOp op_at(int64_t k) { return static_cast<AugmentOp>(k); }

}  // namespace

std::string augment_op_name(AugmentOp op) {
  static const char* const names[kNumAugmentOps] = {
      "Identity", "ShearX",    "ShearY",   "TranslateX", "TranslateY", "Rotate",       "Brightness",
      "Color",    "Contrast",  "Sharpness", "Posterize",  "Solarize",   "AutoContrast", "Equalize"};
  const auto k = static_cast<int64_t>(op);
  WRN_CHECK(k >= 0 && k < kNumAugmentOps, "augment op: unknown op {}", k);
  return names[k];
}

bool augment_op_signed(AugmentOp op) {
  const auto k = static_cast<int64_t>(op);
  return k >= static_cast<int64_t>(AugmentOp::ShearX) && k <= static_cast<int64_t>(AugmentOp::Sharpness);
}

torch::Tensor augment_magnitudes(AutoAugmentKind kind, AugmentOp op, int64_t num_bins, int64_t height,
                                 int64_t width) {
  WRN_CHECK(kind != AutoAugmentKind::None, "augment_magnitudes: needs TrivialAugmentWide or RandAugment");
  WRN_CHECK(num_bins >= 2, "augment_magnitudes: num_magnitude_bins must be >= 2, got {}", num_bins);
  const bool wide = kind == AutoAugmentKind::TrivialAugmentWide;
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  switch (op) {
    case AugmentOp::Identity:
    case AugmentOp::AutoContrast:
    case AugmentOp::Equalize:
      return torch::empty({0}, f32);
    case AugmentOp::ShearX:
    case AugmentOp::ShearY:
      return torch::linspace(0.0, wide ? 0.99 : 0.3, num_bins, f32);
    case AugmentOp::TranslateX:
      return torch::linspace(0.0, wide ? 32.0 : 150.0 / 331.0 * double(width), num_bins, f32);
    case AugmentOp::TranslateY:
      return torch::linspace(0.0, wide ? 32.0 : 150.0 / 331.0 * double(height), num_bins, f32);
    case AugmentOp::Rotate:
      return torch::linspace(0.0, wide ? 135.0 : 30.0, num_bins, f32);
    case AugmentOp::Brightness:
    case AugmentOp::Color:
    case AugmentOp::Contrast:
    case AugmentOp::Sharpness:
      return torch::linspace(0.0, wide ? 0.99 : 0.9, num_bins, f32);
    case AugmentOp::Posterize:
      // 8 - (arange(bins) / ((bins - 1) / 6)).round().int()   (RandAugment: / 4)
      return (8 - (torch::arange(num_bins) / (double(num_bins - 1) / (wide ? 6.0 : 4.0))).round().to(torch::kInt32))
          .to(torch::kFloat32);
    case AugmentOp::Solarize:
      return torch::linspace(255.0, 0.0, num_bins, f32);
  }
  WRN_CHECK(false, "augment_magnitudes: unknown op {}", static_cast<int64_t>(op));
  return {};
}

torch::Tensor apply_augment_op(const torch::Tensor& images_u8, AugmentOp op, const torch::Tensor& magnitudes) {
  check_images(images_u8, "apply_augment_op");
  const int64_t b = images_u8.size(0), c = images_u8.size(1), h = images_u8.size(2), w = images_u8.size(3);
  const std::string name = augment_op_name(op);
  WRN_CHECK(magnitudes.defined() && magnitudes.numel() == b,
            "apply_augment_op({}): expected {} magnitudes (one per image), got {}", name, b,
            magnitudes.defined() ? magnitudes.numel() : 0);
  if (b == 0) return images_u8.clone();
  auto mags = magnitudes.to(torch::kCPU, torch::kFloat32).contiguous().view({b});
  const float* m = mags.data_ptr<float>();
  // Python's float(magnitude) is the float32 value widened to double.
  auto mag_d = mags.to(torch::kFloat64);

  std::vector<std::array<double, 6>> matrices;
  switch (op) {
    case AugmentOp::Identity:
      return images_u8.contiguous().clone();
    case AugmentOp::ShearX:
    case AugmentOp::ShearY: {
      // F.affine(angle 0, translate [0, 0], scale 1, shear [degrees(atan(m)), 0] (or [0, ...]),
      // center [0, 0]): the tensor path's centre is relative to the image centre.
      const std::array<double, 2> center = {0 - w * 0.5, 0 - h * 0.5};
      for (int64_t i = 0; i < b; ++i) {
        const double s = degrees(std::atan(double(m[i])));
        const std::array<double, 2> shear = op == AugmentOp::ShearX ? std::array<double, 2>{s, 0.0}
                                                                    : std::array<double, 2>{0.0, s};
        matrices.push_back(inverse_affine_matrix(center, 0.0, {0.0, 0.0}, 1.0, shear));
      }
      return warp(images_u8, matrices);
    }
    case AugmentOp::TranslateX:
    case AugmentOp::TranslateY:
      for (int64_t i = 0; i < b; ++i) {
        const double t = std::trunc(double(m[i]));  // int(magnitude)
        const std::array<double, 2> translate = op == AugmentOp::TranslateX ? std::array<double, 2>{t, 0.0}
                                                                            : std::array<double, 2>{0.0, t};
        matrices.push_back(inverse_affine_matrix({0.0, 0.0}, 0.0, translate, 1.0, {0.0, 0.0}));
      }
      return warp(images_u8, matrices);
    case AugmentOp::Rotate:
      // F.rotate passes -angle (its direction differs from F.affine's).
      for (int64_t i = 0; i < b; ++i)
        matrices.push_back(inverse_affine_matrix({0.0, 0.0}, -double(m[i]), {0.0, 0.0}, 1.0, {0.0, 0.0}));
      return warp(images_u8, matrices);
    case AugmentOp::Brightness:
    case AugmentOp::Color:
    case AugmentOp::Contrast:
    case AugmentOp::Sharpness: {
      auto factors = 1.0 + mag_d;
      WRN_CHECK(factors.min().item<double>() >= 0, "apply_augment_op({}): factor 1 + magnitude must be >= 0, got {}",
                name, factors.min().item<double>());
      if (op == AugmentOp::Brightness) return blend(images_u8, {}, factors);  // + (1 - f) * 0
      if (op == AugmentOp::Color) {
        if (c == 1) return images_u8.contiguous().clone();  // torchvision: "Match PIL behaviour"
        return blend(images_u8, grayscale(images_u8), factors);
      }
      if (op == AugmentOp::Contrast) {
        auto grey = c == 3 ? grayscale(images_u8) : images_u8;
        return blend(images_u8, grey.to(torch::kFloat32).mean({1, 2, 3}, true), factors);
      }
      if (h <= 2 || w <= 2) return images_u8.contiguous().clone();
      return blend(images_u8, blurred(images_u8), factors);
    }
    case AugmentOp::Posterize: {
      // img & -(2 ** (8 - bits)), the int mask wrapped to uint8.
      auto mask = torch::empty({b}, torch::kUInt8);
      uint8_t* mp = mask.data_ptr<uint8_t>();
      for (int64_t i = 0; i < b; ++i) {
        const double bits = std::trunc(double(m[i]));
        WRN_CHECK(bits >= 0 && bits <= 8, "apply_augment_op(Posterize): bits must be in [0, 8], got {}", m[i]);
        mp[i] = uint8_t((256 - (int64_t(1) << (8 - int64_t(bits)))) & 255);
      }
      return images_u8.bitwise_and(mask.view({b, 1, 1, 1}).to(images_u8.device())).contiguous();
    }
    case AugmentOp::Solarize: {
      WRN_CHECK(mags.max().item<float>() <= 255.0f, "apply_augment_op(Solarize): threshold must be <= 255, got {}",
                mags.max().item<float>());
      auto threshold = mags.view({b, 1, 1, 1}).to(images_u8.device());
      return torch::where(images_u8.to(torch::kFloat32) >= threshold, 255 - images_u8, images_u8).contiguous();
    }
    case AugmentOp::AutoContrast:
      return autocontrast(images_u8);
    case AugmentOp::Equalize:
      return equalize(images_u8);
  }
  WRN_CHECK(false, "apply_augment_op: unknown op {}", static_cast<int64_t>(op));
  return {};
}

AutoAugmentDraw draw_auto_augment(int64_t batch, int64_t height, int64_t width, const AutoAugmentOptions& options,
                                  torch::Generator& generator) {
  WRN_CHECK(options.kind != AutoAugmentKind::None, "draw_auto_augment: kind None draws nothing");
  check_options(options);
  WRN_CHECK(batch >= 0, "draw_auto_augment: batch must be >= 0, got {}", batch);
  const bool wide = options.kind == AutoAugmentKind::TrivialAugmentWide;
  const int64_t rounds = wide ? 1 : options.num_ops, bins = options.num_magnitude_bins;
  const auto draw = torch::TensorOptions().dtype(torch::kInt64).device(generator.device());
  auto ops = torch::randint(0, kNumAugmentOps, {rounds, batch}, generator, draw).to(torch::kCPU);
  auto bin = wide ? torch::randint(0, bins, {rounds, batch}, generator, draw).to(torch::kCPU)
                  : torch::full({rounds, batch}, options.magnitude, torch::kInt64);
  auto negative = torch::randint(0, 2, {rounds, batch}, generator, draw).to(torch::kCPU).to(torch::kBool);
  // [14, bins] table (zeros for the ops without a magnitude) and the signed ops.
  auto table = torch::zeros({kNumAugmentOps, bins}, torch::kFloat32);
  auto is_signed = torch::zeros({kNumAugmentOps}, torch::kBool);
  for (int64_t k = 0; k < kNumAugmentOps; ++k) {
    auto t = augment_magnitudes(options.kind, op_at(k), bins, height, width);
    if (t.numel() > 0) table[k].copy_(t);
    is_signed[k] = augment_op_signed(op_at(k));
  }
  auto mags = table.index({ops, bin});
  mags = torch::where(negative & is_signed.index({ops}), -mags, mags);
  return {ops, mags.contiguous()};
}

torch::Tensor auto_augment_batch(const torch::Tensor& images_u8, const AutoAugmentOptions& options,
                                 torch::Generator& generator) {
  if (options.kind == AutoAugmentKind::None) return images_u8;
  check_images(images_u8, "auto_augment_batch");
  check_options(options);
  const auto draws = draw_auto_augment(images_u8.size(0), images_u8.size(2), images_u8.size(3), options, generator);
  auto out = images_u8.contiguous().clone();
  const auto device = out.device();
  for (int64_t r = 0; r < draws.ops.size(0); ++r) {
    const auto ops = draws.ops[r], mags = draws.magnitudes[r];
    // Each image is in exactly one group, so the groups' results go straight back into `out`.
    for (int64_t k = 1; k < kNumAugmentOps; ++k) {  // Identity (0) leaves its images alone
      auto idx = (ops == k).nonzero().view({-1});
      if (idx.numel() == 0) continue;
      auto idx_dev = idx.to(device);
      auto res = apply_augment_op(out.index_select(0, idx_dev), op_at(k), mags.index_select(0, idx));
      out.index_copy_(0, idx_dev, res);
    }
  }
  return out;
}

}  // namespace wrn::data
