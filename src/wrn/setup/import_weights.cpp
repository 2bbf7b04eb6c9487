#include "wrn/setup/import_weights.h"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>

#include "wrn/core/error.h"
#include "wrn/io/weights_file.h"
#include "wrn/setup/export_metadata.h"
#include "wrn/config/config.h"

namespace wrn::train {
namespace {

std::vector<double> metadata_vector(const std::map<std::string, std::string>& meta, const std::string& key,
                                    const std::string& source) {
  auto it = meta.find(key);
  if (it == meta.end()) return {};
  try {
    return nlohmann::json::parse(it->second).get<std::vector<double>>();
  } catch (const std::exception&) {
    throw FileError(fmt::format("{}: metadata '{}' is not a list of numbers: {}", source, key, it->second));
  }
}

// wrn.settings: a JSON object of scalar settings ({"dropout": "0.3", "block": "3,3"}).
std::vector<std::pair<std::string, std::string>> metadata_settings(const std::string& text, const std::string& source) {
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  WRN_CHECK_FILE(json.is_object(), "{}: metadata 'wrn.settings' must be a JSON object of settings, got {}", source,
                 text);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : json.items()) {
    WRN_CHECK_FILE(v.is_primitive() && !v.is_null(), "{}: metadata 'wrn.settings': '{}' must be a value, got {}",
                   source, k, v.dump());
    out.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
  }
  return out;
}

// The normalization, in the order ImportOptions documents.
void choose_normalization(const ImportOptions& options, const io::WeightsFile& file, const TrainConfig& config,
                          const models::InputShape& input, const std::optional<data::Preprocessing>& preprocessing,
                          std::vector<double>& mean, std::vector<double>& std) {
  const auto& meta = file.metadata;
  if (!options.mean.empty() || !options.std.empty()) {
    WRN_CHECK(!options.mean.empty() && !options.std.empty(), "--mean and --std: give both or neither");
    mean = options.mean;
    std = options.std;
  } else if (file.normalizer.size() >= 2) {
    WRN_CHECK(file.normalizer.size() == 2,
              "{}: the checkpoint's normalizer uses ZCA whitening, which an import cannot carry; pass --mean/--std",
              options.from);
    auto m = file.normalizer[0].to(torch::kFloat64).contiguous(), s = file.normalizer[1].to(torch::kFloat64).contiguous();
    mean.assign(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
    std.assign(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
  } else if (meta.count("wrn.mean")) {
    mean = metadata_vector(meta, "wrn.mean", options.from);
    std = metadata_vector(meta, "wrn.std", options.from);
  } else if (preprocessing && !preprocessing->mean.empty()) {
    mean = preprocessing->mean;
    std = preprocessing->std;
  } else if (!config.data.normalize.mean.empty() && !config.data.normalize.std.empty() && !options.preset.empty()) {
    mean = config.data.normalize.mean;
    std = config.data.normalize.std;
  } else if (input.imagenet_sized() && input.channels == 3) {
    mean = imagenet_mean();
    std = imagenet_std();
  } else {
    throw ConfigError(fmt::format(
        "--mean/--std: give the per-channel normalization (0..255 scale) that {} was trained with, or --preset",
        options.from));
  }
  WRN_CHECK(int64_t(mean.size()) == input.channels && int64_t(std.size()) == input.channels,
            "--mean/--std: expected {} values each (one per input channel), got {} and {}", input.channels,
            mean.size(), std.size());
  for (double v : mean) WRN_CHECK(std::isfinite(v), "--mean: values must be finite numbers, got {}", v);
  for (double v : std) WRN_CHECK(std::isfinite(v) && v > 0, "--std: values must be positive numbers, got {}", v);
}

}  // namespace

const std::vector<double>& imagenet_mean() {
  static const std::vector<double> v = {123.675, 116.28, 103.53};
  return v;
}

const std::vector<double>& imagenet_std() {
  static const std::vector<double> v = {58.395, 57.12, 57.375};
  return v;
}

ImportResult import_weights(const ImportOptions& options) {
  auto file = io::read_weights_file(options.from);
  const auto& meta = file.metadata;
  ImportResult result;
  result.format = io::format_name(file.format);
  result.tensors = file.tensors.size();

  // The model: the options, completed from the file.
  auto spec = options.model;
  if (spec.name.empty() && meta.count("wrn.model")) spec.name = meta.at("wrn.model");
  WRN_CHECK(!spec.name.empty(), "--model: required (the file names no model), e.g. --model resnet50");
  if (!options.settings_given && meta.count("wrn.settings")) {
    for (auto& kv : metadata_settings(meta.at("wrn.settings"), options.from)) spec.settings.push_back(kv);
  }
  const io::NamedTensor* fc = nullptr;
  const io::NamedTensor* conv1 = nullptr;
  for (const auto& nt : file.tensors) {
    if (nt.name == "fc.weight") fc = &nt;
    if (nt.name == "conv1.weight") conv1 = &nt;
  }
  if (spec.classes == 0 && fc && fc->value.dim() == 2) spec.classes = fc->value.size(0);
  if (spec.input.channels == 0 && conv1 && conv1->value.dim() == 4) {
    auto defaults = models::resolve_spec(models::ModelSpec{spec.name, spec.classes, {0, 0, 0}, spec.settings});
    spec.input = defaults.input;
    spec.input.channels = conv1->value.size(1);
  }
  if (!options.input_given && meta.count("wrn.input")) {
    spec.input = models::InputShape::parse(meta.at("wrn.input"), options.from + " metadata wrn.input");
  }
  // The preprocessing spec and class names of an export (setup/export_metadata.h).
  auto preprocessing = metadata_preprocessing(meta, options.from);
  if (!options.input_given && !meta.count("wrn.input") && preprocessing) {
    if (spec.input.channels == 0) spec.input.channels = preprocessing->channels;  // else the first conv's (checked below)
    spec.input.height = preprocessing->height;
    spec.input.width = preprocessing->width;
  }
  spec = models::resolve_spec(spec);
  WRN_CHECK_FILE(!preprocessing || preprocessing->channels == spec.input.channels,
                 "{}: metadata 'wrn.preprocessing' is for {}-channel images but the model takes {}", options.from,
                 preprocessing ? preprocessing->channels : 0, spec.input.channels);
  auto model = models::build_model(spec);
  result.new_classifier = io::load_weights(*model, file.tensors, options.from, io::FineTune::WhenClassesDiffer);
  auto class_names = options.class_names;
  if (class_names.empty()) {
    // The file's names name the file's classifier: a re-initialized one (fine-tuning) has none.
    class_names = metadata_class_names(meta, options.from);
    const int64_t file_classes = fc && fc->value.dim() == 2 ? fc->value.size(0) : spec.classes;
    WRN_CHECK_FILE(class_names.empty() || int64_t(class_names.size()) == file_classes,
                   "{}: metadata 'wrn.class_names' has {} names for a classifier with {} classes", options.from,
                   class_names.size(), file_classes);
    if (result.new_classifier) class_names.clear();
  }

  // The recipe and the normalization.
  YAML::Node root(YAML::NodeType::Map);
  if (!options.preset.empty()) root = load_yaml_file(find_preset(options.preset));
  auto config = config_from_yaml(root);
  if (options.preset.empty() && spec.input.imagenet_sized()) config.data.kind = "folder";
  config.model.name = spec.name;
  config.model.classes = spec.classes;
  config.model.input = spec.input.str();
  config.model.settings = spec.settings;
  config.description = fmt::format("imported from {}", options.from);
  std::vector<double> mean, std;
  choose_normalization(options, file, config, spec.input, preprocessing, mean, std);
  config.data.normalize.mean = mean;
  config.data.normalize.std = std;
  config.data.normalize.zca = false;
  if (preprocessing) {  // the export's image options, so that config.yaml says what the checkpoint meta does
    config.data.image_size = fmt::format("{}x{}", preprocessing->height, preprocessing->width);
    config.data.channels = preprocessing->channels;
    config.data.train_transform = preprocessing->train;
    config.data.eval_transform = preprocessing->eval;
    config.data.eval_resize = preprocessing->eval_resize;
    config.data.crop_scale = {preprocessing->scale_min, preprocessing->scale_max};
    config.data.crop_ratio = {preprocessing->ratio_min, preprocessing->ratio_max};
    config.data.augment = preprocessing->augment;
  }

  auto& ck = result.checkpoint;
  ck.config_yaml = config_to_string(config);
  nlohmann::json ck_meta{{"imported_from", options.from}, {"format", result.format}};
  if (!options.class_names.empty()) {
    WRN_CHECK(int64_t(options.class_names.size()) == spec.classes, "--labels: {} names for a model with {} classes",
              options.class_names.size(), spec.classes);
  }
  if (!class_names.empty()) ck_meta["class_names"] = class_names;
  if (preprocessing) {
    // The checkpoint's normalization is the one chosen above (an import carries no ZCA).
    preprocessing->mean = mean;
    preprocessing->std = std;
    preprocessing->zca = false;
    ck_meta["preprocessing"] = preprocessing->to_json();  // a JSON string, as training writes it
  }
  ck.meta_json = ck_meta.dump();
  ck.model = io::state_dict(*model);
  ck.normalizer = {torch::tensor(mean, torch::kFloat64), torch::tensor(std, torch::kFloat64)};
  result.spec = spec;
  return result;
}

}  // namespace wrn::train
