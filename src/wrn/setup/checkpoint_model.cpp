#include "wrn/setup/checkpoint_model.h"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "wrn/core/error.h"
#include <cmath>

#include "wrn/data/dataset.h"
#include "wrn/data/preprocessing.h"
#include "wrn/io/checkpoint.h"

namespace wrn::train {

CheckpointModel load_checkpoint_model(const std::string& path, const std::string& input_override) {
  const auto ck = io::load_checkpoint(path);
  CheckpointModel out;
  out.config = config_from_yaml(YAML::Load(ck.config_yaml));

  models::ModelSpec spec;
  spec.name = out.config.model.name;
  spec.settings = out.config.model.settings;
  spec.classes = io::find_tensor(ck.model, "fc.weight", path).size(0);
  const auto& conv1 = io::find_tensor(ck.model, "conv1.weight", path);
  if (!input_override.empty()) {
    spec.input = models::InputShape::parse(input_override, "--input");
  } else if (!out.config.data.image_size.empty() && out.config.data.channels > 0) {
    // Training resolved the data's size and channels into the config: the model's input.
    const auto [h, w] = data::parse_image_size(out.config.data.image_size, path + " data.image_size");
    spec.input = {out.config.data.channels, h, w};
  } else if (!out.config.model.input.empty()) {
    spec.input = models::InputShape::parse(out.config.model.input, path + " model.input");
  } else {
    auto defaults = models::resolve_spec(models::ModelSpec{spec.name, spec.classes, {0, 0, 0}, spec.settings});
    spec.input = defaults.input;
    spec.input.channels = conv1.size(1);
    // The built-in data sets' image size (the config leaves the input to the data set).
    const auto& kind = data::dataset_kind(out.config.data.kind);
    if (kind.height > 0) {
      spec.input.height = kind.height;
      spec.input.width = kind.width;
    }
  }
  WRN_CHECK(spec.input.channels == conv1.size(1), "--input: {} has {} channels but the model in {} takes {}",
            spec.input.str(), spec.input.channels, path, conv1.size(1));
  out.spec = models::resolve_spec(spec);
  out.model = models::build_model(out.spec);
  io::load_state_dict(*out.model, io::inference_weights(ck), path);
  out.model->eval();
  if (!ck.normalizer.empty()) out.normalizer.load_state(ck.normalizer);
  out.meta_json = ck.meta_json;
  auto meta = nlohmann::json::parse(ck.meta_json.empty() ? "{}" : ck.meta_json, nullptr, false);

  const auto& in = out.spec.input;
  if (meta.is_object() && meta.contains("preprocessing") && meta["preprocessing"].is_string()) {
    out.preprocessing = data::Preprocessing::from_json(meta["preprocessing"].get<std::string>(), path);
  } else {
    auto options = static_cast<const data::ImageOptions&>(out.config.data);
    options.image_size.clear();
    options.channels = 0;
    if (!YAML::Load(ck.config_yaml)["data"]["eval_transform"] && in.imagenet_sized()) {
      options.eval_transform = data::EvalTransform::ResizeCenterCrop;
      options.eval_resize = 0;
    }
    out.preprocessing = data::Preprocessing::resolve(options, out.config.data.augment, in.channels, in.height, in.width);
    out.preprocessing.mean = out.normalizer.mean();
    out.preprocessing.std = out.normalizer.std();
    out.preprocessing.zca = out.normalizer.has_zca();
  }
  if (out.preprocessing.channels != in.channels || out.preprocessing.height != in.height ||
      out.preprocessing.width != in.width) {
    // --input asked for another size: the same transforms at that size.
    WRN_CHECK(out.preprocessing.channels == in.channels, "--input: {} has {} channels but the images of {} have {}",
              in.str(), in.channels, path, out.preprocessing.channels);
    if (out.preprocessing.eval == data::EvalTransform::ResizeCenterCrop) {
      out.preprocessing.eval_resize = std::lround(double(out.preprocessing.eval_resize) * std::min(in.height, in.width) /
                                                  std::min(out.preprocessing.height, out.preprocessing.width));
    }
    out.preprocessing.height = in.height;
    out.preprocessing.width = in.width;
    out.preprocessing.validate();
  }

  // Class names: stored by training (and import), else the standard ones of the data set.
  out.class_names = stored_class_names(ck.meta_json);
  if (out.class_names.empty()) out.class_names = data::dataset_kind(out.config.data.kind).class_names;
  if (int64_t(out.class_names.size()) != out.spec.classes) out.class_names.clear();  // e.g. a fine-tuned head
  return out;
}

std::vector<std::string> stored_class_names(const std::string& meta_json) {
  std::vector<std::string> out;
  const auto meta = nlohmann::json::parse(meta_json.empty() ? "{}" : meta_json, nullptr, false);
  if (meta.is_object() && meta.contains("class_names") && meta["class_names"].is_array())
    for (const auto& n : meta["class_names"]) out.push_back(n.is_string() ? n.get<std::string>() : n.dump());
  return out;
}

}  // namespace wrn::train
