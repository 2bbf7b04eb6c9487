// The evaluation transform of a model: how an image file becomes the model's input, by the
// preprocessing spec it was trained with (data/preprocessing.h): channels, the eval geometry
// (resize, or resize_center_crop), then the training normalization. The same functions make
// `wrn eval`'s images of an image folder, so predict and eval see a file identically.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

#include "wrn/data/augment.h"
#include "wrn/data/image_codec.h"
#include "wrn/data/preprocessing.h"
#include "wrn/models/network.h"

namespace wrn::infer {

struct Preprocess {
  data::Preprocessing spec;     // channels, height x width and the eval transform
  data::Normalizer normalizer;  // unfitted: pixels scaled to [0, 1]

  // A spec for a bare input shape (no checkpoint): resize_center_crop 256/224-style for
  // inputs of 128 pixels and more (InputShape::imagenet_sized()), resize below.
  static Preprocess for_input(const models::InputShape& input, data::Normalizer normalizer = {});

  models::InputShape input() const { return {spec.channels, spec.height, spec.width}; }
  // uint8 [C, H, W] of the spec's size from a decoded image (data::eval_transform).
  torch::Tensor resize(const data::DecodedImage& image) const;
  // The same from a file (data::load_eval_sample, as eval's image-folder splits are made).
  // Throws FileError naming the file.
  torch::Tensor load(const std::string& path) const;
  // float [N, C, H, W] from a uint8 batch of resize()/load() outputs.
  torch::Tensor normalize(const torch::Tensor& batch_u8) const;
};

}  // namespace wrn::infer
