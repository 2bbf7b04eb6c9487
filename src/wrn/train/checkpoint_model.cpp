#include "wrn/train/checkpoint_model.h"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "wrn/core/error.h"
#include "wrn/data/dataset.h"
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
  io::load_state_dict(*out.model, ck.model, path);
  out.model->eval();
  if (!ck.normalizer.empty()) out.normalizer.load_state(ck.normalizer);
  out.meta_json = ck.meta_json;
  // exportmeta stand-in until the lead's CheckpointModel change (the spec read from the
  // checkpoint's meta "preprocessing") is merged: the input shape and the normalization.
  out.preprocessing.channels = out.spec.input.channels;
  out.preprocessing.height = out.spec.input.height;
  out.preprocessing.width = out.spec.input.width;
  if (out.normalizer.fitted()) {
    out.preprocessing.mean = out.normalizer.mean();
    out.preprocessing.std = out.normalizer.std();
    out.preprocessing.zca = out.normalizer.has_zca();
  }
  // end of the stand-in

  // Class names: stored by training (and import), else the standard ones of the data set.
  auto meta = nlohmann::json::parse(ck.meta_json.empty() ? "{}" : ck.meta_json, nullptr, false);
  if (meta.is_object() && meta.contains("class_names") && meta["class_names"].is_array()) {
    for (const auto& n : meta["class_names"]) out.class_names.push_back(n.is_string() ? n.get<std::string>() : n.dump());
  }
  if (out.class_names.empty()) out.class_names = data::dataset_kind(out.config.data.kind).class_names;
  if (int64_t(out.class_names.size()) != out.spec.classes) out.class_names.clear();  // e.g. a fine-tuned head
  return out;
}

}  // namespace wrn::train
