// Batched preprocessing and augmentation, as tensor ops on whole batches (on the
// dataset's device), reproducible from a torch::Generator.
#pragma once

#include <torch/types.h>

#include <optional>
#include <string>
#include <vector>

#include "wrn/data/dataset.h"

namespace wrn::data {

enum class PadMode { Zeros, Reflect };

struct AugmentOptions {
  int64_t pad = 4;                 // random crop of the image padded by `pad` pixels; 0: off
  PadMode pad_mode = PadMode::Reflect;
  bool flip = true;                // random horizontal flip
};

// Per-channel normalization on 0..255 pixel values, or ZCA whitening (WRN paper).
struct NormalizeOptions {
  std::vector<double> mean;        // per channel, 0..255 scale; empty: computed from the train set
  std::vector<double> std;         // per channel, 0..255 scale; empty: computed from the train set
  bool zca = false;                // ZCA whitening fitted on the train set (after mean/std)
  double zca_epsilon = 1e-2;
};

// Fitted normalization: float output = transform(uint8 input).
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

 private:
  std::vector<double> mean_, std_;
  torch::Tensor mean_t_, inv_std_t_;
  torch::Tensor zca_;  // [C*H*W, C*H*W] or undefined
};

// Random crop (from the padded image) and flip for a whole uint8 batch, drawing every
// random number from `generator` (on the batch's device): the same generator state gives
// the same batch.
torch::Tensor augment_batch(const torch::Tensor& images_u8, const AugmentOptions& options,
                            torch::Generator& generator);

}  // namespace wrn::data
