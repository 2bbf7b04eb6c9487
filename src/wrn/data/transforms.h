// Per-sample image transforms, torchvision's arithmetic: the geometry of the preprocessing
// spec (data/preprocessing.h) for one image at a time, as streaming workers and predict run it.
//
// Images are uint8 [C, H, W] CPU tensors. Every function returns a new contiguous tensor that
// owns its memory. They call LibTorch ops only on the calling thread's intra-op setting: a
// streaming worker limits itself to one thread (data/batch_loader.h), so none of them nests
// thread pools.
//
// Exactness against torchvision 0.14 (tests/data/test_transforms.cpp, golden file from
// scripts/golden_transforms.py): crop, center crop and flip are exact; resizes are within
// 1 grey level of torchvision's tensor path (antialias=True) on uint8 images; the
// random-resized-crop box equals torchvision's RandomResizedCrop.get_params for the same
// generator state.
#pragma once

#include <torch/types.h>

#include <ATen/core/Generator.h>

#include <cstdint>
#include <string>

#include "wrn/data/image_codec.h"
#include "wrn/data/preprocessing.h"

namespace wrn::data {

// A crop rectangle in pixels of the image it applies to.
struct CropBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
  bool operator==(const CropBox& o) const {
    return top == o.top && left == o.left && height == o.height && width == o.width;
  }
};

// Bilinear resize to height x width, antialiased when shrinking (torchvision
// F.resize(..., antialias=True)), rounded back to uint8. Same size: a copy.
torch::Tensor resize_image(const torch::Tensor& chw, int64_t height, int64_t width);

// torchvision Resize(size) with an int: the shorter side to `size`, the longer one
// int(size * long / short) (truncated, as torchvision).
torch::Tensor resize_shorter_side(const torch::Tensor& chw, int64_t size);

// torchvision CenterCrop: top = int(round((H - h) / 2.0)) with Python's round (half to even),
// likewise left. Requires h <= H and w <= W (else ConfigError).
torch::Tensor center_crop(const torch::Tensor& chw, int64_t height, int64_t width);

// The box inside an image; requires it to lie within the image (else ConfigError).
torch::Tensor crop(const torch::Tensor& chw, const CropBox& box);

torch::Tensor hflip(const torch::Tensor& chw);

// torchvision RandomResizedCrop.get_params(img of height x width, scale, ratio), drawing from
// `generator` exactly as torchvision draws from torch's global generator (10 tries of
// torch.empty(1).uniform_ for area and log-ratio and torch.randint for the position, then the
// center-crop fallback), so a generator with the same state gives the same box.
CropBox random_resized_crop_box(int64_t height, int64_t width, double scale_min, double scale_max,
                                double ratio_min, double ratio_max, at::Generator& generator);

// torchvision RandomHorizontalFlip's draw: torch.rand(1) < 0.5.
bool draw_flip(at::Generator& generator);

// The generator of one training sample: seeded from (seed, epoch, sample index) only, so a
// sample's crop and flip do not depend on which worker computes it or in what order.
at::Generator sample_generator(uint64_t seed, int64_t epoch, int64_t index);

// The spec's evaluation transform of an image of any size and channel count: channels
// (image_to_tensor's conversion), then resize or resize_center_crop. -> [channels, height, width].
torch::Tensor eval_transform(const DecodedImage& image, const Preprocessing& spec);

// The per-sample part of the training transform: random_resized_crop (+ flip, drawn after the
// box) from `generator`; pad_crop and none: eval_transform (their crop and flip run later on
// the whole batch, data::augment_batch, as for the built-in data sets).
torch::Tensor train_transform(const DecodedImage& image, const Preprocessing& spec, at::Generator& generator);

// Reads and transforms one file for training or evaluation, decoding a JPEG at 1/2, 1/4 or 1/8
// of its size (libjpeg-turbo's DCT-domain scaling) when the geometry needs no more than that
// (the region that becomes the output is at least twice the output size in both dimensions at
// that scale). Throws FileError naming the file.
torch::Tensor load_eval_sample(const std::string& path, const Preprocessing& spec);
torch::Tensor load_train_sample(const std::string& path, const Preprocessing& spec, at::Generator& generator);

}  // namespace wrn::data
