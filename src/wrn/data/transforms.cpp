#include "wrn/data/transforms.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ops/_upsample_bilinear2d_aa.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "wrn/core/error.h"
#include "wrn/data/file_bytes.h"

namespace wrn::data {

namespace {

void check_image(const torch::Tensor& chw, const char* what) {
  WRN_CHECK(chw.dim() == 3 && chw.scalar_type() == torch::kUInt8 && chw.size(1) > 0 && chw.size(2) > 0,
            "{}: expected a non-empty uint8 [C, H, W] image, got {} dimensions of {}", what, chw.dim(),
            c10::toString(chw.scalar_type()));
}

// torchvision's tensor resize (F.resize(..., antialias=True)): uint8 -> float32, interpolate
// with antialias (torch.nn.functional.interpolate calls _upsample_bilinear2d_aa for both
// directions; enlarging, its triangle filter of support 1 is plain bilinear with
// align_corners=False), round, back to uint8. `chw` may be a view (a crop): the float
// conversion is the one copy.
torch::Tensor resize_any(const torch::Tensor& chw, int64_t height, int64_t width) {
  WRN_CHECK(height > 0 && width > 0, "resize: the size must be positive, got {}x{}", height, width);
  if (chw.size(1) == height && chw.size(2) == width) return chw.clone(at::MemoryFormat::Contiguous);
  auto x = chw.unsqueeze(0).to(torch::kFloat32, /*non_blocking=*/false, /*copy=*/false,
                                at::MemoryFormat::Contiguous);
  const std::vector<int64_t> size{height, width};
  auto y = at::_upsample_bilinear2d_aa(x, at::IntArrayRef(size), /*align_corners=*/false);
  // The triangle filter's weights are non-negative and sum to 1: the values stay in [0, 255]
  // (torchvision clamps only for bicubic); the clamp is a guard against rounding.
  return y.round_().clamp_(0, 255).to(torch::kUInt8).squeeze(0);
}

// The output size of torchvision's Resize(size) with an int (_compute_resized_output_size).
std::pair<int64_t, int64_t> shorter_side_size(int64_t h, int64_t w, int64_t size) {
  WRN_CHECK(size > 0, "resize: the shorter side must be positive, got {}", size);
  const int64_t shorter = std::min(h, w), longer = std::max(h, w);
  // int(size * long / short): Python's true division in double, then truncation.
  const auto new_long = static_cast<int64_t>(double(size) * double(longer) / double(shorter));
  return w <= h ? std::pair{new_long, size} : std::pair{size, new_long};
}

// Python's round() of a double: half to even (the default rounding mode).
int64_t py_round(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

// torchvision's F.center_crop, padding with zeros where the image is smaller than the crop.
torch::Tensor center_crop_padded(torch::Tensor chw, int64_t height, int64_t width) {
  const int64_t ih = chw.size(1), iw = chw.size(2);
  if (height > ih || width > iw) {
    const int64_t left = width > iw ? (width - iw) / 2 : 0, top = height > ih ? (height - ih) / 2 : 0;
    const int64_t right = width > iw ? (width - iw + 1) / 2 : 0, bottom = height > ih ? (height - ih + 1) / 2 : 0;
    chw = at::constant_pad_nd(chw, {left, right, top, bottom}, 0);
    if (chw.size(1) == height && chw.size(2) == width) return chw.contiguous();
  }
  return center_crop(chw, height, width);
}

// The resolved shorter side of resize_center_crop (0 in an unresolved spec: torchvision's
// 256 for 224).
int64_t eval_shorter_side(const Preprocessing& spec) {
  if (spec.eval_resize > 0) return spec.eval_resize;
  return py_round(double(std::min(spec.height, spec.width)) * 256.0 / 224.0);
}

// The largest JPEG DCT scale denominator d in {1, 2, 4, 8} such that a region of
// region_h x region_w pixels, decoded at 1/d, still has at least twice out_h x out_w pixels.
int scale_denominator(double region_h, double region_w, int64_t out_h, int64_t out_w) {
  for (int d : {8, 4, 2})
    if (region_h / d >= 2.0 * double(out_h) && region_w / d >= 2.0 * double(out_w)) return d;
  return 1;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The evaluation geometry of an image in `bytes` whose header is `info`: a JPEG decoded at
// the smallest scale that keeps at least twice the output's pixels, resized to the sizes the
// full-resolution image would get (so the crop offsets are those of the full decode).
torch::Tensor eval_from_bytes(const std::string& bytes, const ImageInfo& info, const std::string& path,
                              const Preprocessing& spec) {
  if (!info.jpeg) return eval_transform(decode_image(bytes, path), spec);
  DecodeOptions options;
  int64_t resize_h = spec.height, resize_w = spec.width;
  if (spec.eval == EvalTransform::Resize) {
    options.jpeg_scale_denom = scale_denominator(double(info.height), double(info.width), spec.height, spec.width);
  } else {
    std::tie(resize_h, resize_w) = shorter_side_size(info.height, info.width, eval_shorter_side(spec));
    options.jpeg_scale_denom = scale_denominator(double(info.height), double(info.width), resize_h, resize_w);
  }
  if (options.jpeg_scale_denom == 1) return eval_transform(decode_image(bytes, path, options), spec);
  auto chw = image_to_tensor(decode_image(bytes, path, options), spec.channels);
  auto resized = resize_any(chw, resize_h, resize_w);
  if (spec.eval == EvalTransform::Resize) return resized;
  return center_crop_padded(resized, spec.height, spec.width);
}

}  // namespace

torch::Tensor resize_image(const torch::Tensor& chw, int64_t height, int64_t width) {
  check_image(chw, "resize_image");
  return resize_any(chw, height, width);
}

torch::Tensor resize_shorter_side(const torch::Tensor& chw, int64_t size) {
  check_image(chw, "resize_shorter_side");
  const auto [h, w] = shorter_side_size(chw.size(1), chw.size(2), size);
  return resize_any(chw, h, w);
}

torch::Tensor center_crop(const torch::Tensor& chw, int64_t height, int64_t width) {
  check_image(chw, "center_crop");
  const int64_t ih = chw.size(1), iw = chw.size(2);
  WRN_CHECK(height > 0 && width > 0 && height <= ih && width <= iw,
            "center_crop: a {}x{} crop does not fit in a {}x{} image", height, width, ih, iw);
  const int64_t top = py_round(double(ih - height) / 2.0), left = py_round(double(iw - width) / 2.0);
  return chw.narrow(1, top, height).narrow(2, left, width).clone(at::MemoryFormat::Contiguous);
}

torch::Tensor crop(const torch::Tensor& chw, const CropBox& box) {
  check_image(chw, "crop");
  WRN_CHECK(box.top >= 0 && box.left >= 0 && box.height > 0 && box.width > 0 && box.top + box.height <= chw.size(1) &&
                box.left + box.width <= chw.size(2),
            "crop: the box {}x{} at ({}, {}) is not inside the {}x{} image", box.height, box.width, box.top, box.left,
            chw.size(1), chw.size(2));
  return chw.narrow(1, box.top, box.height).narrow(2, box.left, box.width).clone(at::MemoryFormat::Contiguous);
}

torch::Tensor hflip(const torch::Tensor& chw) {
  check_image(chw, "hflip");
  return chw.flip({2});
}

CropBox random_resized_crop_box(int64_t height, int64_t width, double scale_min, double scale_max, double ratio_min,
                                double ratio_max, at::Generator& generator) {
  WRN_CHECK(height > 0 && width > 0, "random_resized_crop_box: empty image {}x{}", height, width);
  const double area = double(height * width);
  // log_ratio = torch.log(torch.tensor(ratio)): float32.
  const auto log_ratio = torch::log(torch::tensor({float(ratio_min), float(ratio_max)}));
  const double log_lo = log_ratio[0].item<double>(), log_hi = log_ratio[1].item<double>();
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * torch::empty({1}, f32).uniform_(scale_min, scale_max, generator).item<double>();
    const double aspect =
        torch::exp(torch::empty({1}, f32).uniform_(log_lo, log_hi, generator)).item<double>();
    const int64_t w = py_round(std::sqrt(target_area * aspect));
    const int64_t h = py_round(std::sqrt(target_area / aspect));
    if (0 < w && w <= width && 0 < h && h <= height) {
      CropBox box;
      box.top = torch::randint(0, height - h + 1, {1}, generator, i64).item<int64_t>();
      box.left = torch::randint(0, width - w + 1, {1}, generator, i64).item<int64_t>();
      box.height = h;
      box.width = w;
      return box;
    }
  }
  // Fallback to the central crop (min(ratio) and max(ratio) are the Python floats).
  const double in_ratio = double(width) / double(height);
  int64_t w = width, h = height;
  if (in_ratio < std::min(ratio_min, ratio_max)) {
    h = py_round(double(w) / std::min(ratio_min, ratio_max));
  } else if (in_ratio > std::max(ratio_min, ratio_max)) {
    w = py_round(double(h) * std::max(ratio_min, ratio_max));
  }
  CropBox box;
  box.top = (height - h) / 2;
  box.left = (width - w) / 2;
  box.height = h;
  box.width = w;
  return box;
}

bool draw_flip(at::Generator& generator) { return torch::rand({1}, generator).item<float>() < 0.5f; }

at::Generator sample_generator(uint64_t seed, int64_t epoch, int64_t index) {
  // SplitMix64 steps, each input folded into the state before the next step.
  auto splitmix = [](uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  };
  uint64_t x = splitmix(seed);
  x = splitmix(x ^ static_cast<uint64_t>(epoch));
  x = splitmix(x ^ static_cast<uint64_t>(index));
  // ATen's mt19937 keeps only the low 32 bits of its seed: fold the high half in.
  return at::make_generator<at::CPUGeneratorImpl>((x ^ (x >> 32)) & 0xffffffffull);
}

torch::Tensor eval_transform(const DecodedImage& image, const Preprocessing& spec) {
  WRN_CHECK(image.height > 0 && image.width > 0, "eval_transform: empty image");
  auto chw = image_to_tensor(image, spec.channels);
  if (spec.eval == EvalTransform::Resize) return resize_any(chw, spec.height, spec.width);
  const auto [h, w] = shorter_side_size(chw.size(1), chw.size(2), eval_shorter_side(spec));
  return center_crop_padded(resize_any(chw, h, w), spec.height, spec.width);
}

torch::Tensor train_transform(const DecodedImage& image, const Preprocessing& spec, at::Generator& generator) {
  if (spec.train != TrainTransform::RandomResizedCrop) return eval_transform(image, spec);
  WRN_CHECK(image.height > 0 && image.width > 0, "train_transform: empty image");
  auto chw = image_to_tensor(image, spec.channels);
  const CropBox box = random_resized_crop_box(chw.size(1), chw.size(2), spec.scale_min, spec.scale_max,
                                              spec.ratio_min, spec.ratio_max, generator);
  auto out = resize_any(chw.narrow(1, box.top, box.height).narrow(2, box.left, box.width), spec.height, spec.width);
  if (spec.augment.flip && draw_flip(generator)) out = out.flip({2});
  return out;
}

torch::Tensor load_eval_sample(const std::string& path, const Preprocessing& spec) {
  const std::string bytes = detail::read_bytes(path);
  return eval_from_bytes(bytes, read_image_info(bytes, path), path, spec);
}

torch::Tensor load_train_sample(const std::string& path, const Preprocessing& spec, at::Generator& generator) {
  const std::string bytes = detail::read_bytes(path);
  const ImageInfo info = read_image_info(bytes, path);
  if (spec.train != TrainTransform::RandomResizedCrop) return eval_from_bytes(bytes, info, path, spec);
  // The box at full resolution from the header's size: the same draws as train_transform.
  const CropBox box = random_resized_crop_box(info.height, info.width, spec.scale_min, spec.scale_max,
                                              spec.ratio_min, spec.ratio_max, generator);
  DecodeOptions options;
  DecodeRegion& region = options.region;
  if (info.jpeg) {
    const int d = scale_denominator(double(box.height), double(box.width), spec.height, spec.width);
    options.jpeg_scale_denom = d;
    if (d == 1) {
      region = DecodeRegion{box.top, box.left, box.height, box.width};
    } else {
      // The box at 1/d (scaled pixel i covers full pixels [d i, d i + d)), its edges rounded
      // to the nearest scaled pixel edge: at most d / 2 full pixels off, of a box >= 2 d x
      // the output size.
      const int64_t sh = ceil_div(info.height, d), sw = ceil_div(info.width, d);
      auto edge = [d](int64_t full, int64_t limit) {
        return std::min(limit, py_round(double(full) / double(d)));
      };
      const int64_t top = edge(box.top, sh - 1), left = edge(box.left, sw - 1);
      const int64_t bottom = std::max(top + 1, edge(box.top + box.height, sh));
      const int64_t right = std::max(left + 1, edge(box.left + box.width, sw));
      region = DecodeRegion{top, left, bottom - top, right - left};
    }
  } else {
    region = DecodeRegion{box.top, box.left, box.height, box.width};
  }
  auto chw = image_to_tensor(decode_image(bytes, path, options), spec.channels);
  auto out = resize_any(chw, spec.height, spec.width);
  if (spec.augment.flip && draw_flip(generator)) out = out.flip({2});
  return out;
}

}  // namespace wrn::data
