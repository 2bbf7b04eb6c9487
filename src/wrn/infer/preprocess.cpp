#include "wrn/infer/preprocess.h"

#include "wrn/core/error.h"
#include "wrn/data/transforms.h"

namespace wrn::infer {

Preprocess Preprocess::for_input(const models::InputShape& input, data::Normalizer normalizer) {
  WRN_CHECK(input.channels == 1 || input.channels == 3, "preprocess: the model takes {} channels; only 1 or 3 "
            "can come from an image", input.channels);
  data::ImageOptions options;
  if (input.imagenet_sized()) options.eval_transform = data::EvalTransform::ResizeCenterCrop;
  Preprocess p;
  p.spec = data::Preprocessing::resolve(options, {}, input.channels, input.height, input.width);
  p.spec.mean = normalizer.mean();
  p.spec.std = normalizer.std();
  p.spec.zca = normalizer.has_zca();
  p.normalizer = std::move(normalizer);
  return p;
}

torch::Tensor Preprocess::resize(const data::DecodedImage& image) const {
  WRN_CHECK(image.height > 0 && image.width > 0, "preprocess: empty image");
  return data::eval_transform(image, spec);
}

torch::Tensor Preprocess::load(const std::string& path) const { return data::load_eval_sample(path, spec); }

torch::Tensor Preprocess::normalize(const torch::Tensor& batch_u8) const {
  if (normalizer.fitted()) return normalizer(batch_u8);
  return batch_u8.to(torch::kFloat).div_(255.0);
}

}  // namespace wrn::infer
