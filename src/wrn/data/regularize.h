// Batch regularizers applied after normalization, on float [B, C, H, W] batches: Cutout,
// Random Erasing, mixup and CutMix, and the label-smoothed soft targets they train on.
// Whole-batch tensor ops (no loops over pixels), every random number drawn from the
// caller's torch::Generator (CPU generator with images on any device), so the same
// generator state gives the same batch and a resumed run redraws nothing differently.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace wrn::data {

// Cutout (DeVries & Taylor 2017): per image `holes` squares of side `size` centered at a
// uniform pixel, clipped at the borders, set to 0 (the mean after normalization). size 0: off.
struct CutoutOptions {
  int64_t size = 0;
  int64_t holes = 1;
};

// Random Erasing (Zhong et al. 2017), torchvision.transforms.RandomErasing's parameters: with
// probability p one rectangle of area fraction ~ U(scale) and aspect ~ logU(ratio), the first
// of 10 attempts that fits (no erasing when none does), filled with 0 or N(0, 1) values.
struct ErasingOptions {
  double p = 0;                         // 0: off
  std::vector<double> scale{0.02, 0.33};
  std::vector<double> ratio{0.3, 3.3};
  bool random_fill = false;             // false: 0 (the per-channel mean), true: N(0, 1) per pixel
};

// A rectangle per image: rows [top, top + height), columns [left, left + width); height 0: none.
struct Boxes {
  torch::Tensor top, left, height, width;  // int64 [B] each
};

// Sets the pixels of each image's box to `fill` (a [B, C, H, W] tensor of the batch's shape
// and dtype) or 0 when `fill` is undefined. Returns a new tensor.
torch::Tensor erase_boxes(const torch::Tensor& images, const Boxes& boxes, const torch::Tensor& fill = {});

// The boxes Cutout / Random Erasing would draw for a batch of `b` images of h x w pixels.
Boxes cutout_boxes(int64_t b, int64_t h, int64_t w, int64_t size, torch::Generator& generator);
Boxes erasing_boxes(int64_t b, int64_t h, int64_t w, const ErasingOptions& options, torch::Generator& generator);

// Applied to a normalized batch: the input itself when off.
torch::Tensor cutout_batch(const torch::Tensor& images, const CutoutOptions& options, torch::Generator& generator);
torch::Tensor random_erasing_batch(const torch::Tensor& images, const ErasingOptions& options,
                                   torch::Generator& generator);

// mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019), timm's batch mode: with probability
// `prob` the batch is mixed with itself reversed (image i with image B-1-i), lam ~ Beta(alpha,
// alpha); CutMix (chosen with switch_prob when both alphas are > 0) pastes a box of area
// (1 - lam) and corrects lam to the box's exact area.
struct MixOptions {
  double mixup_alpha = 0;   // > 0: mixup on
  double cutmix_alpha = 0;  // > 0: CutMix on
  double prob = 1.0;        // probability that a batch is mixed
  double switch_prob = 0.5; // both on: probability of CutMix rather than mixup
  bool enabled() const { return mixup_alpha > 0 || cutmix_alpha > 0; }
};

// Label-smoothed one-hot targets: (1 - smoothing) * onehot + smoothing / classes, float [B, K]
// (the target PyTorch's cross_entropy(label_smoothing=...) trains on).
torch::Tensor smooth_targets(const torch::Tensor& labels, int64_t classes, double smoothing);

struct MixedBatch {
  torch::Tensor images;   // [B, C, H, W], the input's dtype
  torch::Tensor targets;  // float [B, K] soft targets (smoothed, mixed)
  double lam = 1.0;       // the weight of the unmixed images (1: not mixed)
};

// Mixes a batch (`labels` int64 [B], classes K) as MixOptions says; without mixing the
// targets are smooth_targets(labels).
MixedBatch mix_batch(const torch::Tensor& images, const torch::Tensor& labels, int64_t classes, double smoothing,
                     const MixOptions& options, torch::Generator& generator);

// Mean over the batch of -sum_k target_k log softmax(logits)_k (float32).
torch::Tensor soft_target_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace wrn::data
