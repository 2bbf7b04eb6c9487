// wrn import --from FILE.pt|FILE.safetensors --model NAME --out CHECKPOINT: a state_dict
// written elsewhere (torchvision's ImageNet ResNets, a PyTorch WRN with the same names, or a
// file wrn exported) becomes a wrn checkpoint that predict, eval, export and
// train --init-from use. Every name and shape is checked; each mismatch is listed.
//
// The checkpoint also records how inputs are normalized (per-channel mean/std on the 0..255
// scale): --mean/--std, else the file's wrn.mean/wrn.std metadata (or its wrn.preprocessing's),
// else the preset's, else ImageNet's for ImageNet-sized models; any other case must say it.
// An export's preprocessing spec and class names (wrn.preprocessing, wrn.class_names) are kept
// in the checkpoint. The work is wrn::train::import_weights; this file parses the options.
#include <fmt/format.h>

#include <filesystem>

#include "command.h"
#include "model_options.h"
#include "output_rule.h"
#include "wrn/core/error.h"
#include "wrn/core/text.h"
#include "wrn/infer/predictor.h"
#include "wrn/io/checkpoint.h"
#include "wrn/setup/import_weights.h"

namespace {

std::vector<double> parse_channels(const std::string& text, const std::string& what) {
  std::vector<double> out;
  for (const auto& part : wrn::split(text, ',')) out.push_back(wrn::parse_double(wrn::trim(part), what));
  return out;
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
  cmd->add_option("--labels", args->labels, "Class names, one per line, stored for predict (default: the file's wrn.class_names)");
  cmd->add_flag("--force", args->force, "Overwrite --out when it exists");
  cmd->callback([args] {
    wrn::cli::check_output_file("--out", args->out, args->force);
    wrn::train::ImportOptions options;
    options.from = args->from;
    options.model = args->model.spec();
    options.input_given = !args->model.input.empty();
    options.settings_given = !args->model.settings.empty();
    options.preset = args->preset;
    if (!args->mean.empty()) options.mean = parse_channels(args->mean, "--mean");
    if (!args->std_.empty()) options.std = parse_channels(args->std_, "--std");
    if (!args->labels.empty()) options.class_names = wrn::infer::read_labels(args->labels);
    const auto r = wrn::train::import_weights(options);
    wrn::io::save_checkpoint(args->out, r.checkpoint);
    fmt::print("wrote {}: {} ({} classes, input {}) from {} ({} tensors{})\n", args->out, r.spec.name, r.spec.classes,
               r.spec.input.str(), args->from, r.tensors,
               r.new_classifier ? fmt::format("; classifier re-initialized for {} classes", r.spec.classes) : "");
  });
}

}  // namespace

WRN_REGISTER_COMMAND(56, add_import_command);
