// TrivialAugment-Wide (Müller & Hutter 2021) and RandAugment (Cubuk et al. 2020) on whole uint8
// batches, with torchvision 0.14's op set, magnitude tables and tensor implementations
// (torchvision/transforms/autoaugment.py and functional_tensor.py): fill 0, nearest
// interpolation. Each op is a handful of tensor ops on the images that drew it; nothing loops
// over pixels or images.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

namespace wrn::data {

enum class AutoAugmentKind { None, TrivialAugmentWide, RandAugment };

struct AutoAugmentOptions {
  AutoAugmentKind kind = AutoAugmentKind::None;
  int64_t num_ops = 2;              // RandAugment: ops per image (>= 0)
  int64_t magnitude = 9;            // RandAugment: magnitude bin, in [0, num_magnitude_bins)
  int64_t num_magnitude_bins = 31;  // both (torchvision's defaults); >= 2
};

// torchvision's ops (transforms/autoaugment.py _apply_op), in the order of its
// _augmentation_space dictionaries (the op index drawn is this enum's value).
enum class AugmentOp {
  Identity, ShearX, ShearY, TranslateX, TranslateY, Rotate, Brightness, Color, Contrast,
  Sharpness, Posterize, Solarize, AutoContrast, Equalize
};
constexpr int64_t kNumAugmentOps = 14;

// "ShearX", "Equalize", ... (torchvision's op names).
std::string augment_op_name(AugmentOp op);

// Applies `op` to every image of a uint8 [B, C, H, W] batch (C = 1 or 3) with per-image signed
// magnitudes `magnitudes` (float [B], any device; torchvision's units, as _apply_op reads them):
//   ShearX/ShearY   shear factor m: F.affine(shear = degrees(atan(m))), center (0, 0) (top-left)
//   TranslateX/Y    pixels, truncated toward zero (int(m)); + moves the content right / down
//   Rotate          degrees, counter-clockwise for m > 0 (F.rotate), about the image center
//   Brightness, Color, Contrast, Sharpness   factor 1 + m (>= 0): blends with black, the
//                   grey image, the grey mean, the 3x3-smoothed image (borders kept)
//   Posterize       bits int(m) in [0, 8] kept
//   Solarize        threshold: values >= m are inverted (m <= 255)
//   Identity, AutoContrast, Equalize   magnitude ignored
// Geometric ops sample with torchvision's tensor path (_get_inverse_affine_matrix in double,
// theta in float32, _gen_affine_grid, grid_sample nearest, zeros outside); the others are
// functional_tensor.py's arithmetic in the same float32 order, so on the CPU the output equals
// torchvision's bit for bit (tests/data/test_auto_augment.cpp). Color on one channel is the
// identity, as in torchvision (it matches PIL). Equalize is per image and channel (256-bin
// histogram by scatter_add over the whole batch).
// Requires: a 4-D uint8 batch with 1 or 3 channels and B magnitudes in the op's range, else
// wrn::ConfigError. Reads the magnitudes on the host (a synchronization if they are on a GPU).
// Ensures: a new contiguous uint8 [B, C, H, W] tensor on the input's device (Identity: a copy).
torch::Tensor apply_augment_op(const torch::Tensor& images_u8, AugmentOp op, const torch::Tensor& magnitudes);

// torchvision's magnitude table of `op` for `kind` (TrivialAugmentWide or RandAugment):
// float32 [num_bins] (Posterize's integer bits as floats), or an empty tensor for the ops
// without a magnitude (Identity, AutoContrast, Equalize). RandAugment's translations depend on
// the image size: 150/331 * width (X) or height (Y). Requires num_bins >= 2 and kind != None.
torch::Tensor augment_magnitudes(AutoAugmentKind kind, AugmentOp op, int64_t num_bins, int64_t height,
                                 int64_t width);
// Whether torchvision gives `op` a random sign (ShearX ... Sharpness).
bool augment_op_signed(AugmentOp op);

// One batch's draws: ops[r][i] (an AugmentOp value) and the signed magnitude magnitudes[r][i]
// applied to image i in round r (TrivialAugmentWide: one round; RandAugment: num_ops rounds).
struct AutoAugmentDraw {
  torch::Tensor ops;         // int64 [rounds, B], on the CPU
  torch::Tensor magnitudes;  // float32 [rounds, B], on the CPU (0 for ops without a magnitude)
};

// Per image and round, draws as torchvision does (in distribution; the random stream is ours):
// an op uniformly from the 14; TrivialAugmentWide: a magnitude bin uniformly from
// [0, num_magnitude_bins), RandAugment: bin `magnitude`; a sign (50 % negative) for signed ops.
// int64 draws of [rounds, B] from `generator` on its device: ops, then (TrivialAugmentWide
// only) bins, then signs; copied to the CPU (a synchronization for a CUDA generator: grouping
// the batch by op needs the counts on the host anyway). Throws wrn::ConfigError for kind None
// or invalid options.
AutoAugmentDraw draw_auto_augment(int64_t batch, int64_t height, int64_t width, const AutoAugmentOptions& options,
                                  torch::Generator& generator);

// Per image: draws op(s), magnitude bin and sign from `generator` (draw_auto_augment) and
// applies them (RandAugment: the rounds in order). Images are grouped by op, so each op runs
// once per round on its subset of the batch (index_select / index_copy_). Deterministic from
// the generator state. kind None returns the input itself (and draws nothing); otherwise a new
// contiguous uint8 [B, C, H, W] tensor on the input's device. Requires what apply_augment_op
// requires and valid options (num_magnitude_bins >= 2, 0 <= magnitude < num_magnitude_bins,
// num_ops >= 0), else wrn::ConfigError.
torch::Tensor auto_augment_batch(const torch::Tensor& images_u8, const AutoAugmentOptions& options,
                                 torch::Generator& generator);

}  // namespace wrn::data
