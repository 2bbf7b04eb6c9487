// Cutout, Random Erasing, mixup and CutMix as whole-batch tensor ops (regularize.h).
#include "wrn/data/regularize.h"

#include <ATen/ops/_standard_gamma.h>
#include <torch/nn/functional/activation.h>

#include <algorithm>
#include <cmath>

#include "wrn/core/error.h"

namespace wrn::data {
namespace {

torch::TensorOptions draw_options(const torch::Generator& g, c10::ScalarType dtype) {
  return torch::TensorOptions().dtype(dtype).device(g.device());
}

void check_images(const torch::Tensor& images, const char* what) {
  WRN_CHECK(images.defined() && images.dim() == 4, "{}: expected a [B, C, H, W] batch, got {} dims", what,
            images.defined() ? images.dim() : 0);
}

// [B, 1, H, W] true inside each image's box.
torch::Tensor box_mask(const Boxes& boxes, int64_t h, int64_t w, const torch::Device& device) {
  const auto on = torch::TensorOptions().dtype(torch::kInt64).device(device);
  auto top = boxes.top.to(device).unsqueeze(1), left = boxes.left.to(device).unsqueeze(1);
  auto bottom = top + boxes.height.to(device).unsqueeze(1), right = left + boxes.width.to(device).unsqueeze(1);
  auto rows = torch::arange(h, on).unsqueeze(0), cols = torch::arange(w, on).unsqueeze(0);
  auto in_y = (rows >= top) & (rows < bottom);  // [B, H]
  auto in_x = (cols >= left) & (cols < right);  // [B, W]
  return (in_y.unsqueeze(2) & in_x.unsqueeze(1)).unsqueeze(1);
}

}  // namespace

torch::Tensor erase_boxes(const torch::Tensor& images, const Boxes& boxes, const torch::Tensor& fill) {
  check_images(images, "erase_boxes");
  const auto mask = box_mask(boxes, images.size(2), images.size(3), images.device());
  if (fill.defined()) return torch::where(mask, fill, images);
  return images.masked_fill(mask, 0);
}

Boxes cutout_boxes(int64_t b, int64_t h, int64_t w, int64_t size, torch::Generator& generator) {
  const auto i64 = draw_options(generator, torch::kInt64);
  auto cy = torch::randint(0, h, {b}, generator, i64), cx = torch::randint(0, w, {b}, generator, i64);
  // DeVries & Taylor's code: y1 = clip(y - length // 2, 0, h), y2 = clip(y + length // 2, 0, h).
  auto y1 = (cy - size / 2).clamp(0, h), y2 = (cy + size / 2).clamp(0, h);
  auto x1 = (cx - size / 2).clamp(0, w), x2 = (cx + size / 2).clamp(0, w);
  return {y1, x1, y2 - y1, x2 - x1};
}

Boxes erasing_boxes(int64_t b, int64_t h, int64_t w, const ErasingOptions& o, torch::Generator& generator) {
  WRN_CHECK(o.scale.size() == 2 && o.ratio.size() == 2 && o.scale[0] <= o.scale[1] && o.ratio[0] <= o.ratio[1] &&
                o.ratio[0] > 0,
            "random erasing: scale and ratio must be [min, max] with 0 < min <= max");
  constexpr int64_t kAttempts = 10;  // torchvision's RandomErasing.get_params
  const auto f64 = draw_options(generator, torch::kDouble);
  auto u = torch::rand({b, kAttempts, 4}, generator, f64);
  auto apply = torch::rand({b}, generator, f64) < o.p;
  const double area = static_cast<double>(h * w);
  auto erase_area = area * (o.scale[0] + (o.scale[1] - o.scale[0]) * u.select(2, 0));
  const double lr0 = std::log(o.ratio[0]), lr1 = std::log(o.ratio[1]);
  auto aspect = (lr0 + (lr1 - lr0) * u.select(2, 1)).exp();
  auto eh = (erase_area * aspect).sqrt().round().to(torch::kInt64);  // round half to even, as Python's round
  auto ew = (erase_area / aspect).sqrt().round().to(torch::kInt64);
  auto fits = (eh < h) & (ew < w);
  // The first attempt that fits: the largest of (attempts - index) over the fitting ones.
  auto rank = (kAttempts - torch::arange(kAttempts, torch::TensorOptions().dtype(torch::kInt64))).to(fits.device());
  auto first = (fits.to(torch::kInt64) * rank).argmax(1, /*keepdim=*/true);  // [B, 1]
  auto any = fits.any(1);
  auto hh = eh.gather(1, first).squeeze(1), ww = ew.gather(1, first).squeeze(1);
  auto ui = u.select(2, 2).gather(1, first).squeeze(1), uj = u.select(2, 3).gather(1, first).squeeze(1);
  auto top = (ui * (h - hh + 1).to(torch::kDouble)).floor().to(torch::kInt64).clamp_max(h - hh);
  auto left = (uj * (w - ww + 1).to(torch::kDouble)).floor().to(torch::kInt64).clamp_max(w - ww);
  auto on = apply & any;
  auto zero = torch::zeros_like(hh);
  return {top, left, torch::where(on, hh, zero), torch::where(on, ww, zero)};
}

torch::Tensor cutout_batch(const torch::Tensor& images, const CutoutOptions& options, torch::Generator& generator) {
  check_images(images, "cutout");
  WRN_CHECK(options.size >= 0 && options.holes >= 0, "cutout: size and holes must be >= 0");
  if (options.size == 0 || options.holes == 0 || images.size(0) == 0) return images;
  auto out = images;
  for (int64_t k = 0; k < options.holes; ++k)
    out = erase_boxes(out, cutout_boxes(images.size(0), images.size(2), images.size(3), options.size, generator));
  return out;
}

torch::Tensor random_erasing_batch(const torch::Tensor& images, const ErasingOptions& options,
                                   torch::Generator& generator) {
  check_images(images, "random erasing");
  if (options.p <= 0 || images.size(0) == 0) return images;
  const auto boxes = erasing_boxes(images.size(0), images.size(2), images.size(3), options, generator);
  torch::Tensor fill;
  if (options.random_fill)
    fill = torch::randn(images.sizes(), generator, draw_options(generator, torch::kFloat))
               .to(images.device(), images.scalar_type());
  return erase_boxes(images, boxes, fill);
}

torch::Tensor smooth_targets(const torch::Tensor& labels, int64_t classes, double smoothing) {
  WRN_CHECK(smoothing >= 0 && smoothing < 1, "label smoothing must be in [0, 1), got {}", smoothing);
  auto t = torch::full({labels.size(0), classes}, smoothing / static_cast<double>(classes),
                       torch::TensorOptions().dtype(torch::kFloat).device(labels.device()));
  return t.scatter_(1, labels.view({-1, 1}), 1.0 - smoothing + smoothing / static_cast<double>(classes));
}

MixedBatch mix_batch(const torch::Tensor& images, const torch::Tensor& labels, int64_t classes, double smoothing,
                     const MixOptions& o, torch::Generator& generator) {
  check_images(images, "mixup/cutmix");
  MixedBatch out;
  out.images = images;
  out.targets = smooth_targets(labels, classes, smoothing);
  if (!o.enabled() || images.size(0) < 2) return out;
  const auto f64 = draw_options(generator, torch::kDouble);
  // Three uniforms every batch (mix?, which?, box center), so the stream does not depend on the outcome.
  auto u = torch::rand({4}, generator, f64);
  const auto ua = u.accessor<double, 1>();
  const bool mix = ua[0] < o.prob;
  const bool cutmix = o.cutmix_alpha > 0 && (o.mixup_alpha <= 0 || ua[1] < o.switch_prob);
  const double alpha = cutmix ? o.cutmix_alpha : o.mixup_alpha;
  auto g = at::_standard_gamma(torch::full({2}, alpha, f64), generator);  // Beta(a, a) = Ga / (Ga + Gb)
  const double ga = g[0].item<double>(), gb = g[1].item<double>();
  if (!mix) return out;
  double lam = ga + gb > 0 ? ga / (ga + gb) : 0.5;
  const auto flipped = images.flip(0);
  if (cutmix) {
    const int64_t h = images.size(2), w = images.size(3);
    const double cut = std::sqrt(1.0 - lam);
    const auto cut_h = static_cast<int64_t>(h * cut), cut_w = static_cast<int64_t>(w * cut);
    const auto cy = std::min<int64_t>(static_cast<int64_t>(ua[2] * h), h - 1);
    const auto cx = std::min<int64_t>(static_cast<int64_t>(ua[3] * w), w - 1);
    const int64_t y1 = std::clamp<int64_t>(cy - cut_h / 2, 0, h), y2 = std::clamp<int64_t>(cy + cut_h / 2, 0, h);
    const int64_t x1 = std::clamp<int64_t>(cx - cut_w / 2, 0, w), x2 = std::clamp<int64_t>(cx + cut_w / 2, 0, w);
    auto mixed = images.clone();
    using torch::indexing::Slice;
    mixed.index_put_({Slice(), Slice(), Slice(y1, y2), Slice(x1, x2)},
                     flipped.index({Slice(), Slice(), Slice(y1, y2), Slice(x1, x2)}));
    out.images = mixed;
    lam = 1.0 - static_cast<double>((y2 - y1) * (x2 - x1)) / static_cast<double>(h * w);
  } else {
    out.images = images * lam + flipped * (1.0 - lam);
  }
  out.targets = out.targets * lam + out.targets.flip(0) * (1.0 - lam);
  out.lam = lam;
  return out;
}

torch::Tensor soft_target_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets) {
  return -(targets * torch::log_softmax(logits.to(torch::kFloat), 1)).sum(1).mean();
}

}  // namespace wrn::data
