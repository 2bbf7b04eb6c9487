// Batched preprocessing and augmentation, as tensor ops on whole batches (on the
// dataset's device), reproducible from a torch::Generator.
#pragma once

#include <torch/types.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "wrn/core/enum_names.h"
#include "wrn/data/auto_augment.h"
#include "wrn/data/dataset.h"
#include "wrn/data/regularize.h"

namespace wrn::data {

enum class PadMode { Zeros, Reflect };
inline constexpr std::array<EnumName<PadMode>, 2> kPadModes{{{PadMode::Reflect, "reflect"}, {PadMode::Zeros, "zeros"}}};
inline const char* to_string(PadMode v) { return enum_name(kPadModes, v); }

struct AugmentOptions {
  int64_t pad = 4;                 // random crop of the image padded by `pad` pixels; 0: off
  PadMode pad_mode = PadMode::Reflect;
  bool flip = true;                // random horizontal flip
  // After the crop and flip, on uint8 (auto_augment.h); the engine applies it.
  AutoAugmentOptions policy;
  // After normalization (regularize.h); the engine applies them, augment_batch does not.
  CutoutOptions cutout;
  ErasingOptions erasing;
};

// Per-channel normalization on 0..255 pixel values, or ZCA whitening (WRN paper).
struct NormalizeOptions {
  std::vector<double> mean;        // per channel, 0..255 scale; empty: computed from the train set
  std::vector<double> std;         // per channel, 0..255 scale; empty: computed from the train set
  bool zca = false;                // ZCA whitening fitted on the train set (after mean/std)
  double zca_epsilon = 1e-2;
};

// Fitted normalization: float output = transform(uint8 input):
//   x -> (x - mean[c]) / std[c], then, with ZCA, flatten to D = C*H*W and
//   x -> (x - mu) W with W = U diag(1 / sqrt(S + eps)) U^T from the eigendecomposition
//   cov = U diag(S) U^T of the normalized train set (mu: its per-feature mean).
// fit() throws wrn::ConfigError for mean/std of the wrong length or a non-positive std;
// load_state() throws wrn::FileError for a state of the wrong shape.
// Cost note: the ZCA fit is an N x D by D x N product plus a D x D eigh (D = 3072 for CIFAR):
// seconds with an optimized BLAS, minutes with the reference BLAS.
class Normalizer {
 public:
  Normalizer() = default;
  // Fits mean/std (when not given) and the ZCA matrix (when asked) on `train`.
  static Normalizer fit(const Dataset& train, const NormalizeOptions& options);
  // uint8 [B, C, H, W] -> float32 [B, C, H, W], on the input's device.
  torch::Tensor operator()(const torch::Tensor& images_u8) const;
  // State for checkpoints: mean, std and (when fitted) the ZCA matrix.
  std::vector<torch::Tensor> state() const;
  void load_state(const std::vector<torch::Tensor>& state);
  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& std() const { return std_; }
  bool fitted() const { return mean_t_.defined(); }
  bool has_zca() const { return zca_.defined(); }
  // Where the cached tensors live (the CPU when unfitted).
  torch::Device device() const { return mean_t_.defined() ? mean_t_.device() : torch::Device(torch::kCPU); }
  // Moves the cached tensors to `device`, so operator() there copies nothing per batch
  // (operator() still works on any device, moving them per call otherwise).
  void to(const torch::Device& device);

 private:
  std::vector<double> mean_, std_;
  torch::Tensor mean_t_, inv_std_t_;
  torch::Tensor zca_;       // [C*H*W, C*H*W] float32 (symmetric) or undefined
  torch::Tensor zca_mean_;  // [C*H*W] float32: per-feature mean of the normalized train set
};

// Random crop (from the padded image) and flip for a whole uint8 batch, drawing every
// random number from `generator` (on the batch's device): the same generator state gives
// the same batch.
// Works for any dtype; requires a 4-D batch and, for Reflect, pad < H and pad < W (else
// wrn::ConfigError). Output: a new contiguous [B, C, H, W] tensor of the input's dtype; pad 0
// and no flip returns the input itself. Random numbers are drawn on the generator's device
// (CPU generator with CUDA images is fine): offsets first ([2, B] in [0, 2*pad]), then flips.
torch::Tensor augment_batch(const torch::Tensor& images_u8, const AugmentOptions& options,
                            torch::Generator& generator);

// ---- Image-folder transforms (batches of any size images; uint8 in, uint8 out) ----

// Bilinear resize of a [B, C, h, w] batch to height x width (antialiased when shrinking).
// uint8 input gives rounded uint8 output; floating input gives the same floating type.
torch::Tensor resize_batch(const torch::Tensor& images, int64_t height, int64_t width);

// Scale to cover height x width keeping the aspect ratio, then crop the center.
torch::Tensor resize_cover_crop(const torch::Tensor& images, int64_t height, int64_t width);

// The ImageNet evaluation transform: shorter side to `resize`, center crop `crop` x `crop`.
torch::Tensor resize_center_crop(const torch::Tensor& images, int64_t resize = 256,
                                 int64_t crop = 224);

// The ImageNet training transform (Inception-style random-resized crop + flip), batched.
struct RandomResizedCropOptions {
  int64_t size = 224;                           // output size x size
  double scale_min = 0.08, scale_max = 1.0;     // crop area / image area
  double ratio_min = 3.0 / 4, ratio_max = 4.0 / 3;  // crop width / height, log-uniform
  bool flip = true;                             // random horizontal flip
};
// Per sample: area fraction ~ U(scale), log aspect ~ U(log ratio), the crop clamped to the
// image (instead of torchvision's rejection loop, so it stays one batched op), position
// uniform; bilinear sampling (affine_grid + grid_sample). Draws [B, 5] uniforms from
// `generator`: the same generator state gives the same batch.
torch::Tensor random_resized_crop(const torch::Tensor& images, const RandomResizedCropOptions& options,
                                  torch::Generator& generator);

}  // namespace wrn::data
