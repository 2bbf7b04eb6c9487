// Classifies one image file with a checkpoint written by `wrn train` (or train_one_epoch),
// through wrn::infer's BN-folded inference path, and prints the top classes.
//
//   classify CHECKPOINT IMAGE [TOP]      e.g. classify run/checkpoints/last.ckpt run/sample.png
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "wrn/core/error.h"
#include "wrn/infer/predictor.h"
#include "wrn/models/registry.h"
#include "wrn/train/checkpoint.h"
#include "wrn/train/config.h"
#include "wrn/train/trainer.h"

namespace {

// The input the network was trained on: the run's model.input when set, else the image size
// of the built-in data set it was trained on.
wrn::models::InputShape input_shape(const wrn::train::TrainConfig& config, int64_t channels) {
  if (!config.model.input.empty()) return wrn::models::InputShape::parse(config.model.input, "model.input");
  const auto& kind = config.data.kind;
  if (kind == "fashion-mnist" || kind == "mnist") return {channels, 28, 28};
  if (kind == "cifar10" || kind == "cifar100" || kind == "svhn") return {channels, 32, 32};
  throw wrn::ConfigError("the checkpoint's config sets no model.input and data.kind '" + kind +
                         "' has no standard image size");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CHECKPOINT IMAGE [TOP]\n", argv[0]);
    return 2;
  }
  const std::string checkpoint_path = argv[1], image_path = argv[2];
  const int64_t top = argc > 3 ? std::stoll(argv[3]) : 3;
  try {
    // A checkpoint holds the resolved config, the weights, the training normalization and,
    // in its metadata, the class names. load_checkpoint verifies its size and checksum.
    const wrn::train::Checkpoint ck = wrn::train::load_checkpoint(checkpoint_path);
    const wrn::train::TrainConfig config = wrn::train::config_from_yaml(YAML::Load(ck.config_yaml));

    // The same network: name and settings from the config, the class count from the weights.
    wrn::models::ModelSpec spec;
    spec.name = config.model.name;
    spec.settings = config.model.settings;
    spec.classes = wrn::train::find_tensor(ck.model, "fc.weight", checkpoint_path).size(0);
    spec.input =
        input_shape(config, wrn::train::find_tensor(ck.model, "conv1.weight", checkpoint_path).size(1));
    wrn::models::Classifier model = wrn::models::build_model(spec);
    wrn::train::load_model_state(*model, ck.model, checkpoint_path);  // throws on any mismatch

    // The evaluation transform (resize to the input, the training normalization) and names.
    wrn::infer::PredictorOptions options;
    options.preprocess.input = spec.input;
    if (!ck.normalizer.empty()) options.preprocess.normalizer.load_state(ck.normalizer);
    const auto meta = nlohmann::json::parse(ck.meta_json.empty() ? "{}" : ck.meta_json);
    if (meta.contains("class_names") && int64_t(meta["class_names"].size()) == spec.classes)
      options.class_names = meta["class_names"].get<std::vector<std::string>>();  // else: class indices
    wrn::infer::Predictor predictor(model, options);  // folds BatchNorm into the convolutions

    // A file that cannot be decoded comes back with an error instead of an exception.
    const wrn::infer::Prediction p = predictor.predict_files({image_path}, top).at(0);
    if (p.error) throw wrn::FileError(*p.error);
    std::printf("%s\n", p.file.c_str());
    for (const auto& s : p.top) std::printf("  %6.2f%%  %s\n", 100.0 * s.probability, s.name.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "classify: error: %s\n", wrn::one_line_message(e).c_str());
    return 1;
  }
  return 0;
}
