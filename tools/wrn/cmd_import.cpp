// wrn import --from FILE.pt|FILE.safetensors --model NAME --out CHECKPOINT: a state_dict
// written elsewhere (torchvision's ImageNet ResNets, a PyTorch WRN with the same names, or a
// file wrn exported) becomes a wrn checkpoint that predict, eval, export and
// train --init-from use. Every name and shape is checked; each mismatch is listed.
//
// The checkpoint also records how inputs are normalized (per-channel mean/std on the 0..255
// scale): --mean/--std, else the file's wrn.mean/wrn.std metadata, else the preset's, else
// ImageNet's for ImageNet-sized models; any other case must say it.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "command.h"
#include "model_options.h"
#include "output_rule.h"
#include "weights_file.h"
#include "wrn/core/error.h"
#include "wrn/core/text.h"
#include "wrn/infer/predictor.h"
#include "wrn/infer/preprocess.h"
#include "wrn/train/checkpoint.h"
#include "wrn/train/config.h"

namespace {

std::vector<double> parse_channels(const std::string& text, const std::string& what) {
  std::vector<double> out;
  for (const auto& part : wrn::split(text, ',')) out.push_back(wrn::parse_double(wrn::trim(part), what));
  return out;
}

std::vector<double> metadata_vector(const std::map<std::string, std::string>& meta, const std::string& key,
                                    const std::string& source) {
  auto it = meta.find(key);
  if (it == meta.end()) return {};
  try {
    return nlohmann::json::parse(it->second).get<std::vector<double>>();
  } catch (const std::exception&) {
    throw wrn::FileError(fmt::format("{}: metadata '{}' is not a list of numbers: {}", source, key, it->second));
  }
}

void add_import_command(CLI::App& app) {
  struct Args {
    std::string from, out, preset, mean, std_, labels;
    wrn::cli::ModelArgs model;
    bool force = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("import", "Turn a PyTorch/torchvision (.pt) or .safetensors state_dict into a wrn checkpoint");
  cmd->footer("Example:\n  wrn import --from resnet50.pt --model resnet50 --labels imagenet.txt --out resnet50.ckpt");
  cmd->add_option("--from", args->from, "The state_dict file (.pt/.pth written by torch.save, or .safetensors)")
      ->required();
  cmd->add_option("--model", args->model.name, "Model name, e.g. resnet50 (default: the file's wrn.model metadata)");
  cmd->add_option("--out", args->out, "Checkpoint to write (.ckpt)")->required();
  args->model.add_options(cmd);
  cmd->add_option("--preset", args->preset, "Recipe whose data set and normalization the checkpoint records");
  cmd->add_option("--mean", args->mean, "Per-channel input mean on the 0..255 scale, e.g. 123.675,116.28,103.53");
  cmd->add_option("--std", args->std_, "Per-channel input std on the 0..255 scale, e.g. 58.395,57.12,57.375");
  cmd->add_option("--labels", args->labels, "Class names, one per line, stored for predict");
  cmd->add_flag("--force", args->force, "Overwrite --out when it exists");
  cmd->callback([args] {
    namespace t = wrn::train;
    wrn::cli::check_output_file("--out", args->out, args->force);
    auto file = wrn::cli::read_weights_file(args->from);
    const auto& meta = file.metadata;

    // The model: --model / --classes / --input / --set, completed from the file.
    auto spec = args->model.spec();
    if (spec.name.empty() && meta.count("wrn.model")) spec.name = meta.at("wrn.model");
    WRN_CHECK(!spec.name.empty(), "--model: required (the file names no model), e.g. --model resnet50");
    if (args->model.settings.empty() && meta.count("wrn.settings")) {
      for (auto& [k, v] : nlohmann::json::parse(meta.at("wrn.settings")).items()) spec.settings.push_back({k, v});
    }
    const wrn::infer::NamedTensor* fc = nullptr;
    const wrn::infer::NamedTensor* conv1 = nullptr;
    for (const auto& nt : file.tensors) {
      if (nt.name == "fc.weight") fc = &nt;
      if (nt.name == "conv1.weight") conv1 = &nt;
    }
    const int64_t file_classes = fc && fc->value.dim() == 2 ? fc->value.size(0) : 0;
    if (spec.classes == 0) spec.classes = file_classes;
    if (spec.input.channels == 0 && conv1 && conv1->value.dim() == 4) {
      auto defaults = wrn::models::resolve_spec(wrn::models::ModelSpec{spec.name, spec.classes, {0, 0, 0}, spec.settings});
      spec.input = defaults.input;
      spec.input.channels = conv1->value.size(1);
    }
    if (args->model.input.empty() && meta.count("wrn.input")) {
      spec.input = wrn::models::InputShape::parse(meta.at("wrn.input"), args->from + " metadata wrn.input");
    }
    spec = wrn::models::resolve_spec(spec);
    auto model = wrn::models::build_model(spec);
    const bool fine_tune = wrn::cli::load_weights_or_fine_tune(*model, file, args->from);

    // The recipe and the normalization.
    YAML::Node root(YAML::NodeType::Map);
    if (!args->preset.empty()) root = t::load_yaml_file(t::find_preset(args->preset));
    auto config = t::config_from_yaml(root);
    const bool imagenet_sized = std::max(spec.input.height, spec.input.width) >= wrn::infer::Preprocess::kImageNetMinSide;
    if (args->preset.empty() && imagenet_sized) config.data.kind = "folder";
    config.model.name = spec.name;
    config.model.classes = spec.classes;
    config.model.input = spec.input.str();
    config.model.settings = spec.settings;
    config.description = fmt::format("imported from {}", args->from);

    std::vector<double> mean, std;
    if (!args->mean.empty() || !args->std_.empty()) {
      WRN_CHECK(!args->mean.empty() && !args->std_.empty(), "--mean and --std: give both or neither");
      mean = parse_channels(args->mean, "--mean");
      std = parse_channels(args->std_, "--std");
    } else if (file.normalizer.size() >= 2) {
      WRN_CHECK(file.normalizer.size() == 2, "{}: the checkpoint's normalizer uses ZCA whitening, which an import "
                "cannot carry; pass --mean/--std", args->from);
      auto m = file.normalizer[0].to(torch::kFloat64).contiguous(), s = file.normalizer[1].to(torch::kFloat64).contiguous();
      mean.assign(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
      std.assign(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
    } else if (meta.count("wrn.mean")) {
      mean = metadata_vector(meta, "wrn.mean", args->from);
      std = metadata_vector(meta, "wrn.std", args->from);
    } else if (!config.data.normalize.mean.empty() && !config.data.normalize.std.empty() && !args->preset.empty()) {
      mean = config.data.normalize.mean;
      std = config.data.normalize.std;
    } else if (imagenet_sized && spec.input.channels == 3) {
      mean = {123.675, 116.28, 103.53};  // torchvision's ImageNet normalization, 0..255 scale
      std = {58.395, 57.12, 57.375};
    } else {
      throw wrn::ConfigError(fmt::format(
          "--mean/--std: give the per-channel normalization (0..255 scale) that {} was trained with, or --preset",
          args->from));
    }
    WRN_CHECK(int64_t(mean.size()) == spec.input.channels && int64_t(std.size()) == spec.input.channels,
              "--mean/--std: expected {} values each (one per input channel), got {} and {}", spec.input.channels,
              mean.size(), std.size());
    config.data.normalize.mean = mean;
    config.data.normalize.std = std;
    config.data.normalize.zca = false;

    t::Checkpoint ck;
    ck.config_yaml = t::config_to_string(config);
    nlohmann::json ck_meta{{"imported_from", args->from}, {"format", file.format}};
    if (!args->labels.empty()) {
      auto names = wrn::infer::read_labels(args->labels);
      WRN_CHECK(int64_t(names.size()) == spec.classes, "--labels {}: {} names for a model with {} classes",
                args->labels, names.size(), spec.classes);
      ck_meta["class_names"] = names;
    }
    ck.meta_json = ck_meta.dump();
    for (const auto& nt : wrn::infer::state_dict(*model)) ck.model.push_back({nt.name, nt.value});
    ck.normalizer = {torch::tensor(mean, torch::kFloat64), torch::tensor(std, torch::kFloat64)};
    t::save_checkpoint(args->out, ck);
    fmt::print("wrote {}: {} ({} classes, input {}) from {} ({} tensors{})\n", args->out, spec.name, spec.classes,
               spec.input.str(), args->from, file.tensors.size(),
               fine_tune ? fmt::format("; classifier re-initialized for {} classes", spec.classes) : "");
  });
}

}  // namespace

WRN_REGISTER_COMMAND(56, add_import_command);
