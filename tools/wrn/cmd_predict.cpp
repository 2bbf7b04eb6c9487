// wrn predict --checkpoint FILE IMAGE_OR_DIR...: top classes of PNG/JPEG images with a
// trained model, through the optimized inference path.
//
// Bad images: every file that cannot be decoded gets a one-line "wrn: error: FILE: ..." on
// stderr, the others are still predicted (also inside directories), and the command exits
// with status 1 at the end when any file failed.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <cstdio>

#include "command.h"
#include "common_options.h"
#include "wrn/core/error.h"
#include "wrn/core/threads.h"
#include "wrn/infer/predictor.h"
#include "wrn/models/summary.h"
#include "wrn/setup/checkpoint_model.h"

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
  bool tta = false;
  std::string precision;
};

void run_predict(const PredictArgs& a) {
  wrn::configure_threads(a.threads);
  auto loaded = wrn::train::load_checkpoint_model(a.checkpoint, a.input);
  const auto& spec = loaded.spec;
  auto model = loaded.model;
  wrn::models::check_forward_fits(*model, spec.input, a.batch, "--input");

  wrn::infer::PredictorOptions options;
  options.preprocess.spec = loaded.preprocessing;  // as training saw the images (checkpoint_model.h)
  options.preprocess.normalizer = loaded.normalizer;
  options.class_names = loaded.class_names;
  if (!a.labels.empty()) {
    options.class_names = wrn::infer::read_labels(a.labels);
    WRN_CHECK(int64_t(options.class_names.size()) == spec.classes, "--labels {}: {} names for a model with {} classes",
              a.labels, options.class_names.size(), spec.classes);
  }
  options.optimized = !a.plain;
  options.tta_flip = a.tta;  // only when asked: predict gives the model's own outputs, as its exports do
  options.fuse.dtype =
      wrn::compute_dtype(wrn::cli::resolve_precision_option(a.precision, torch::Device(torch::kCPU)).value);
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
  cmd->footer("Each image gets the checkpoint's preprocessing (channels, eval transform, size, normalization: "
              "`wrn info CKPT` shows it), the same as `wrn eval` on those files.\n"
              "Example:\n  wrn predict --checkpoint runs/demo/checkpoints/best.ckpt shoe.png photos/ --top 3");
  wrn::cli::add_checkpoint_option(cmd, args->checkpoint);
  cmd->add_option("inputs", args->inputs, "Image files and/or directories (walked recursively, sorted)")->required();
  cmd->add_option("--top", args->top, "Classes per image")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", args->json, "One JSON object per image per line");
  cmd->add_option("--batch", args->batch, "Images per forward")->check(CLI::PositiveNumber);
  cmd->add_option("--labels", args->labels, "Class names, one per line (default: the checkpoint's, else class indices)");
  cmd->add_option("--input", args->input, "CxHxW the model was trained on (default: the run's config or the model's)");
  wrn::cli::add_threads_option(cmd, args->threads);
  cmd->add_flag("--plain", args->plain, "Use the plain eval-mode forward instead of the BN-folded one");
  cmd->add_flag("--tta", args->tta,
                "Average each image's class probabilities with its mirror image's (test-time augmentation, as "
                "wrn eval --tta; off by default, also for a run trained with eval_tta)");
  wrn::cli::add_precision_option(cmd, args->precision);
  cmd->callback([args] { run_predict(*args); });
}

WRN_REGISTER_COMMAND(50, add_predict_command);

}  // namespace
