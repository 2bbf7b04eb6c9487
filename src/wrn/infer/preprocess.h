// The evaluation transform of a model: how a decoded image becomes the model's input.
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "wrn/data/augment.h"
#include "wrn/data/image_codec.h"
#include "wrn/models/network.h"

namespace wrn::infer {

// Contract: describes the deterministic transform used at evaluation time.
//   1. channels: grey -> RGB by replication, RGB -> grey with ITU-R 601 luma weights;
//   2. size: for ImageNet-sized inputs (InputShape::imagenet_sized()) the shorter side
//      is resized to round(side * 256 / 224) and the centre input.height x input.width is
//      cropped (torchvision's Resize(256) + CenterCrop(224)); smaller inputs are resized
//      straight to the input size (bilinear, antialiased, rounded back to 8 bits as the
//      training store holds them);
//   3. normalization: the training Normalizer (per-channel mean/std on 0..255, ZCA if fitted);
//      an unfitted Normalizer scales to [0, 1].
struct Preprocess {
  models::InputShape input;   // the model's input
  data::Normalizer normalizer;

  // uint8 [C, H, W] of the input size (steps 1 and 2). Throws ConfigError for an empty image.
  torch::Tensor resize(const data::DecodedImage& image) const;
  // float [N, C, H, W] from a uint8 batch of resize() outputs (step 3).
  torch::Tensor normalize(const torch::Tensor& batch_u8) const;
};

}  // namespace wrn::infer
