#include "checkpoint_model.h"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "wrn/core/error.h"
#include "wrn/data/readers.h"
#include "wrn/train/trainer.h"

namespace wrn::cli {

CheckpointModel load_checkpoint_model(const std::string& path, const std::string& input_override) {
  const auto ck = train::load_checkpoint(path);
  CheckpointModel out;
  out.config = train::config_from_yaml(YAML::Load(ck.config_yaml));

  models::ModelSpec spec;
  spec.name = out.config.model.name;
  spec.settings = out.config.model.settings;
  spec.classes = train::find_tensor(ck.model, "fc.weight", path).size(0);
  const auto& conv1 = train::find_tensor(ck.model, "conv1.weight", path);
  if (!input_override.empty()) {
    spec.input = models::InputShape::parse(input_override, "--input");
  } else if (!out.config.model.input.empty()) {
    spec.input = models::InputShape::parse(out.config.model.input, path + " model.input");
  } else {
    auto defaults = models::resolve_spec(models::ModelSpec{spec.name, spec.classes, {0, 0, 0}, spec.settings});
    spec.input = defaults.input;
    spec.input.channels = conv1.size(1);
    // The built-in data sets' image size (the config leaves the input to the data set).
    const auto& kind = out.config.data.kind;
    if (kind == "fashion-mnist" || kind == "mnist") {
      spec.input.height = spec.input.width = 28;
    } else if (kind == "cifar10" || kind == "cifar100" || kind == "svhn") {
      spec.input.height = spec.input.width = 32;
    }
  }
  WRN_CHECK(spec.input.channels == conv1.size(1), "--input: {} has {} channels but the model in {} takes {}",
            spec.input.str(), spec.input.channels, path, conv1.size(1));
  out.spec = models::resolve_spec(spec);
  out.model = models::build_model(out.spec);
  train::load_model_state(*out.model, ck.model, path);
  out.model->eval();
  if (!ck.normalizer.empty()) out.normalizer.load_state(ck.normalizer);

  // Class names: stored by training (and import), else the standard ones of the data set.
  auto meta = nlohmann::json::parse(ck.meta_json.empty() ? "{}" : ck.meta_json, nullptr, false);
  if (meta.is_object() && meta.contains("class_names") && meta["class_names"].is_array()) {
    for (const auto& n : meta["class_names"]) out.class_names.push_back(n.is_string() ? n.get<std::string>() : n.dump());
  }
  if (out.class_names.empty()) {
    const auto& kind = out.config.data.kind;
    if (kind == "fashion-mnist") out.class_names = data::fashion_mnist_classes();
    if (kind == "cifar10") out.class_names = data::cifar10_classes();
    if (kind == "cifar100") out.class_names = data::cifar100_fine_classes();
    if (kind == "mnist" || kind == "svhn")
      for (int d = 0; d < 10; ++d) out.class_names.push_back(std::to_string(d));
  }
  if (int64_t(out.class_names.size()) != out.spec.classes) out.class_names.clear();  // e.g. a fine-tuned head
  return out;
}

}  // namespace wrn::cli
