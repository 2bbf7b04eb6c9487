// wrn predict --checkpoint FILE IMAGE_OR_DIR...: top classes of PNG/JPEG images with a
// trained model, through the optimized inference path.
//
// Bad images: every file that cannot be decoded gets a one-line "wrn: error: FILE: ..." on
// stderr, the others are still predicted (also inside directories), and the command exits
// with status 1 at the end when any file failed.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <cstdio>

#include "command.h"
#include "wrn/core/error.h"
#include "wrn/core/threads.h"
#include "wrn/infer/predictor.h"
#include "wrn/models/registry.h"
#include "wrn/train/checkpoint.h"
#include "wrn/train/config.h"
#include "wrn/train/trainer.h"

namespace {

struct PredictArgs {
  std::string checkpoint;
  std::vector<std::string> inputs;
  int64_t top = 5;
  bool json = false;
  int64_t batch = 32;
  std::string labels;
  std::string input;
  int threads = 0;
  bool plain = false;
};

void run_predict(const PredictArgs& a) {
  wrn::configure_threads(a.threads);
  const auto ck = wrn::train::load_checkpoint(a.checkpoint);
  const auto config = wrn::train::config_from_yaml(YAML::Load(ck.config_yaml));

  // The model: its name and settings from the run's config; classes and input channels from
  // the stored weights; height x width from --input, the config, the data set kind, or the
  // model's default (image folders: pass --input when training used another size).
  wrn::models::ModelSpec spec;
  spec.name = config.model.name;
  spec.settings = config.model.settings;
  spec.classes = wrn::train::find_tensor(ck.model, "fc.weight", a.checkpoint).size(0);
  const auto& conv1 = wrn::train::find_tensor(ck.model, "conv1.weight", a.checkpoint);
  if (!a.input.empty()) {
    spec.input = wrn::models::InputShape::parse(a.input, "--input");
  } else if (!config.model.input.empty()) {
    spec.input = wrn::models::InputShape::parse(config.model.input, a.checkpoint + " model.input");
  } else {
    auto defaults = wrn::models::resolve_spec(wrn::models::ModelSpec{spec.name, spec.classes, {0, 0, 0}, spec.settings});
    spec.input = defaults.input;
    spec.input.channels = conv1.size(1);
    // The built-in data sets' image size (the config leaves the input to the data set).
    const auto& kind = config.data.kind;
    if (kind == "fashion-mnist" || kind == "mnist") {
      spec.input.height = spec.input.width = 28;
    } else if (kind == "cifar10" || kind == "cifar100" || kind == "svhn") {
      spec.input.height = spec.input.width = 32;
    }
  }
  WRN_CHECK(spec.input.channels == conv1.size(1), "--input: {} has {} channels but the model takes {}",
            spec.input.str(), spec.input.channels, conv1.size(1));
  auto model = wrn::models::build_model(spec);
  wrn::train::load_model_state(*model, ck.model, a.checkpoint);

  wrn::infer::PredictorOptions options;
  options.preprocess.input = spec.input;
  if (!ck.normalizer.empty()) options.preprocess.normalizer.load_state(ck.normalizer);
  if (!a.labels.empty()) {
    options.class_names = wrn::infer::read_labels(a.labels);
    WRN_CHECK(int64_t(options.class_names.size()) == spec.classes, "--labels {}: {} names for a model with {} classes",
              a.labels, options.class_names.size(), spec.classes);
  }
  options.optimized = !a.plain;
  wrn::infer::Predictor predictor(model, options);

  const auto files = wrn::infer::collect_image_files(a.inputs);
  WRN_CHECK_T(wrn::FileError, !files.empty(), "no .png/.jpg/.jpeg images found in the given inputs");
  int failed = 0;
  for (size_t start = 0; start < files.size(); start += size_t(a.batch)) {
    std::vector<std::string> chunk(files.begin() + start, files.begin() + std::min(files.size(), start + size_t(a.batch)));
    for (const auto& p : predictor.predict_files(chunk, a.top, a.batch)) {
      if (p.error) {
        ++failed;
        std::fflush(stdout);
        std::fprintf(stderr, "wrn: error: %s\n", p.error->c_str());
        continue;
      }
      if (a.json) {
        nlohmann::json top = nlohmann::json::array();
        for (const auto& s : p.top) top.push_back({{"index", s.index}, {"name", s.name}, {"probability", s.probability}});
        fmt::print("{}\n", nlohmann::json{{"file", p.file}, {"top", top}}.dump());
      } else {
        fmt::print("{}\n", p.file);
        for (const auto& s : p.top) fmt::print("  {:>7.3f}%  {} ({})\n", 100.0 * s.probability, s.name, s.index);
      }
    }
  }
  std::fflush(stdout);
  WRN_CHECK_T(wrn::FileError, failed == 0, "{} of {} images could not be read (see the messages above)", failed,
              files.size());
}

void add_predict_command(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  auto* cmd = app.add_subcommand("predict", "Top classes of PNG/JPEG images with a trained checkpoint");
  cmd->add_option("--checkpoint", args->checkpoint, "A wrn checkpoint (.ckpt)")->required();
  cmd->add_option("inputs", args->inputs, "Image files and/or directories (walked recursively, sorted)")->required();
  cmd->add_option("--top", args->top, "Classes per image")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", args->json, "One JSON object per image per line");
  cmd->add_option("--batch", args->batch, "Images per forward")->check(CLI::PositiveNumber);
  cmd->add_option("--labels", args->labels, "Class names, one per line (default: class indices)");
  cmd->add_option("--input", args->input, "CxHxW the model was trained on (default: the run's config or the model's)");
  cmd->add_option("--threads", args->threads, "Intra-op threads (0: all cores)");
  cmd->add_flag("--plain", args->plain, "Use the plain eval-mode forward instead of the BN-folded one");
  cmd->callback([args] { run_predict(*args); });
}

WRN_REGISTER_COMMAND(50, add_predict_command);

}  // namespace
