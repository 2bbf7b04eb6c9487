#include "wrn/data/transforms.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <memory>
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

// torchvision's tensor resize, F.resize(..., antialias=True) on uint8: to float32,
// torch.nn.functional.interpolate(antialias=True) (ATen's _upsample_bilinear2d_aa, for
// enlarging too: its triangle filter of support 1 is then plain bilinear, align_corners=False),
// round half to even, back to uint8. This is ATen 1.13's separable kernel written out for
// uint8 sources of any strides (a crop of a decoded HWC buffer needs no copy): the same
// float32 weights (HelperInterpBase::_compute_weights_aa with HelperInterpLinear::aa_filter),
// the width pass first and then the height pass, each skipped when that size is unchanged,
// float32 sums in the same order. ATen's vectorized build may contract a multiply-add where
// this does not, so a value may round to the other side of .5: within 1 grey level.
struct AxisWeights {
  std::vector<int64_t> start, size;  // per output index: first input index and tap count
  std::vector<float> weights;        // per output index, `taps` entries (zeros after size)
  int64_t taps = 0;
};

AxisWeights axis_weights(int64_t in, int64_t out) {
  AxisWeights a;
  const float scale = static_cast<float>(in) / static_cast<float>(out);  // area_pixel_compute_scale
  const float support = scale >= 1.0f ? 1.0f * scale : 1.0f;             // (interp_size 2 * 0.5) * scale
  a.taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  const float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
  a.start.resize(size_t(out));
  a.size.resize(size_t(out));
  a.weights.assign(size_t(out * a.taps), 0.0f);
  for (int64_t i = 0; i < out; ++i) {
    const float center = static_cast<float>(scale * (i + 0.5));
    const int64_t xmin = std::max(static_cast<int64_t>(center - support + 0.5), int64_t(0));
    const int64_t xsize = std::min(static_cast<int64_t>(center + support + 0.5), in) - xmin;
    float* w = a.weights.data() + i * a.taps;
    float total = 0.0f;
    for (int64_t j = 0; j < xsize; ++j) {
      float x = static_cast<float>((static_cast<float>(j + xmin) - center + 0.5) * invscale);
      if (x < 0.0f) x = -x;
      w[j] = x < 1.0f ? 1.0f - x : 0.0f;
      total += w[j];
    }
    if (total != 0.0f)
      for (int64_t j = 0; j < xsize; ++j) w[j] /= total;
    a.start[size_t(i)] = xmin;
    a.size[size_t(i)] = xsize;
  }
  return a;
}

// Resizes the uint8 image whose pixel (c, y, x) is src[c * sc + y * sy + x * sx], of
// channels x height x width, to uint8 [channels, out_h, out_w] (mirrored left-right when
// `flip`, which is torchvision's hflip of the result).
//
// kFma: the multiply-adds fused, as GCC contracts ATen's `output += t * wts` in the kernels it
// builds for AVX2 / AVX-512 (-mfma), which LibTorch runs on a CPU with FMA; without, the
// separate multiply and add of its default build.
template <bool kFma>
inline float madd(float a, float b, float acc) {
  if constexpr (kFma) {
    return __builtin_fmaf(a, b, acc);
  } else {
    return acc + a * b;
  }
}

template <bool kFma>
__attribute__((always_inline)) inline torch::Tensor resize_strided_impl(const uint8_t* src, int64_t channels,
                                                                         int64_t height, int64_t width, int64_t sc,
                                                                         int64_t sy, int64_t sx, int64_t out_h,
                                                                         int64_t out_w, bool flip) {
  const int64_t C = channels;
  // Width pass into float32 rows of [out_w][C] (or the source as float when the width stays).
  const bool do_w = width != out_w, do_h = height != out_h;
  const int64_t mid_w = do_w ? out_w : width;
  // Uninitialized buffers (every value is written before it is read).
  std::unique_ptr<float[]> mid(new float[size_t(height * mid_w * C)]);
  if (do_w) {
    const AxisWeights wx = axis_weights(width, out_w);
    // One source row as float32 [width][C] (converted once, not once per tap), then per output
    // pixel the C channels together.
    std::unique_ptr<float[]> line(new float[size_t(width * C)]);
    for (int64_t y = 0; y < height; ++y) {
      if (sc == 1 && sx == C) {  // an interleaved (HWC) row: one contiguous run
        const uint8_t* in = src + y * sy;
        float* l = line.get();
        for (int64_t k = 0; k < width * C; ++k) l[k] = static_cast<float>(in[k]);
      } else {
        for (int64_t x = 0; x < width; ++x)
          for (int64_t c = 0; c < C; ++c) line[size_t(x * C + c)] = static_cast<float>(src[c * sc + y * sy + x * sx]);
      }
      float* row = mid.get() + y * mid_w * C;
      for (int64_t ox = 0; ox < out_w; ++ox) {
        const float* w = wx.weights.data() + ox * wx.taps;
        const int64_t n = wx.size[size_t(ox)];
        const float* p = line.get() + wx.start[size_t(ox)] * C;
        if (C == 3) {
          float a0 = p[0] * w[0], a1 = p[1] * w[0], a2 = p[2] * w[0];
          for (int64_t j = 1; j < n; ++j) {
            a0 = madd<kFma>(p[3 * j], w[j], a0);
            a1 = madd<kFma>(p[3 * j + 1], w[j], a1);
            a2 = madd<kFma>(p[3 * j + 2], w[j], a2);
          }
          row[ox * 3] = a0;
          row[ox * 3 + 1] = a1;
          row[ox * 3 + 2] = a2;
        } else {
          for (int64_t c = 0; c < C; ++c) {
            float acc = p[c] * w[0];
            for (int64_t j = 1; j < n; ++j) acc = madd<kFma>(p[j * C + c], w[j], acc);
            row[ox * C + c] = acc;
          }
        }
      }
    }
  } else {
    for (int64_t y = 0; y < height; ++y)
      for (int64_t x = 0; x < width; ++x)
        for (int64_t c = 0; c < C; ++c) mid[size_t((y * width + x) * C + c)] = src[c * sc + y * sy + x * sx];
  }
  // Height pass, over whole rows of out_w * C floats.
  const int64_t row_len = mid_w * C;
  std::unique_ptr<float[]> final_rows;
  const float* rows = mid.get();
  if (do_h) {
    const AxisWeights wy = axis_weights(height, out_h);
    final_rows.reset(new float[size_t(out_h * row_len)]);
    for (int64_t oy = 0; oy < out_h; ++oy) {
      const float* w = wy.weights.data() + oy * wy.taps;
      const int64_t y0 = wy.start[size_t(oy)], n = wy.size[size_t(oy)];
      float* dst = final_rows.get() + oy * row_len;
      const float* first = mid.get() + y0 * row_len;
      for (int64_t k = 0; k < row_len; ++k) dst[k] = first[k] * w[0];
      for (int64_t j = 1; j < n; ++j) {
        const float* r = mid.get() + (y0 + j) * row_len;
        const float wj = w[j];
        for (int64_t k = 0; k < row_len; ++k) dst[k] = madd<kFma>(r[k], wj, dst[k]);
      }
    }
    rows = final_rows.get();
  }
  // Round half to even (torch.round), clamp, to uint8 [C, out_h, out_w].
  auto out = torch::empty({C, out_h, out_w}, torch::kUInt8);
  uint8_t* o = out.data_ptr<uint8_t>();
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t y = 0; y < out_h; ++y) {
      const float* r = rows + y * row_len + c;
      uint8_t* dst = o + (c * out_h + y) * out_w;
      for (int64_t x = 0; x < out_w; ++x) {
        const float v = std::min(255.0f, std::max(0.0f, std::nearbyint(r[x * C])));
        dst[flip ? out_w - 1 - x : x] = static_cast<uint8_t>(v);
      }
    }
  }
  return out;
}

__attribute__((target("fma"))) torch::Tensor resize_strided_fma(const uint8_t* src, int64_t channels, int64_t height,
                                                               int64_t width, int64_t sc, int64_t sy, int64_t sx,
                                                               int64_t out_h, int64_t out_w, bool flip) {
  return resize_strided_impl<true>(src, channels, height, width, sc, sy, sx, out_h, out_w, flip);
}

torch::Tensor resize_strided(const uint8_t* src, int64_t channels, int64_t height, int64_t width, int64_t sc,
                             int64_t sy, int64_t sx, int64_t out_h, int64_t out_w, bool flip) {
  static const bool fma = __builtin_cpu_supports("fma");
  if (fma) return resize_strided_fma(src, channels, height, width, sc, sy, sx, out_h, out_w, flip);
  return resize_strided_impl<false>(src, channels, height, width, sc, sy, sx, out_h, out_w, flip);
}

// resize_strided of a uint8 [C, H, W] tensor of any strides (a crop view needs no copy).
torch::Tensor resize_any(const torch::Tensor& chw, int64_t height, int64_t width, bool flip = false) {
  WRN_CHECK(height > 0 && width > 0, "resize: the size must be positive, got {}x{}", height, width);
  if (chw.size(1) == height && chw.size(2) == width)
    return flip ? chw.flip({2}) : chw.clone(at::MemoryFormat::Contiguous);
  return resize_strided(chw.data_ptr<uint8_t>(), chw.size(0), chw.size(1), chw.size(2), chw.stride(0), chw.stride(1),
                        chw.stride(2), height, width, flip);
}

// The box of a decoded HWC image resized to height x width (+ flip), with `channels` (0 or
// the image's: straight from its buffer; else image_to_tensor's conversion first).
torch::Tensor resize_box(const DecodedImage& image, int64_t channels, const CropBox& box, int64_t height,
                         int64_t width, bool flip) {
  if (channels != 0 && channels != image.channels) {
    auto chw = image_to_tensor(image, channels);
    return resize_any(chw.narrow(1, box.top, box.height).narrow(2, box.left, box.width), height, width, flip);
  }
  const int64_t C = image.channels;
  const uint8_t* base = image.pixels.data() + (box.top * image.width + box.left) * C;
  if (box.height == height && box.width == width) {
    auto chw = torch::from_blob(const_cast<uint8_t*>(base), {C, box.height, box.width}, {1, image.width * C, C},
                                torch::kUInt8);
    return flip ? chw.flip({2}) : chw.clone(at::MemoryFormat::Contiguous);
  }
  return resize_strided(base, C, box.height, box.width, 1, image.width * C, C, height, width, flip);
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
  const DecodedImage image = decode_image(bytes, path, options);
  auto resized = resize_box(image, spec.channels, CropBox{0, 0, image.height, image.width}, resize_h, resize_w, false);
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
  const CropBox whole{0, 0, image.height, image.width};
  if (spec.eval == EvalTransform::Resize) return resize_box(image, spec.channels, whole, spec.height, spec.width, false);
  const auto [h, w] = shorter_side_size(image.height, image.width, eval_shorter_side(spec));
  return center_crop_padded(resize_box(image, spec.channels, whole, h, w, false), spec.height, spec.width);
}

torch::Tensor train_transform(const DecodedImage& image, const Preprocessing& spec, at::Generator& generator) {
  if (spec.train != TrainTransform::RandomResizedCrop) return eval_transform(image, spec);
  WRN_CHECK(image.height > 0 && image.width > 0, "train_transform: empty image");
  const CropBox box = random_resized_crop_box(image.height, image.width, spec.scale_min, spec.scale_max,
                                              spec.ratio_min, spec.ratio_max, generator);
  const bool flip = spec.augment.flip && draw_flip(generator);
  return resize_box(image, spec.channels, box, spec.height, spec.width, flip);
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
  const DecodedImage image = decode_image(bytes, path, options);
  const bool flip = spec.augment.flip && draw_flip(generator);
  return resize_box(image, spec.channels, CropBox{0, 0, image.height, image.width}, spec.height, spec.width, flip);
}

}  // namespace wrn::data
