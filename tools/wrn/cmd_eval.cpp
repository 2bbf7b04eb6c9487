// wrn eval --checkpoint FILE: test-set error, loss, per-class accuracy and confusion matrix
// of a training checkpoint.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <filesystem>

#include "command.h"
#include "common_options.h"
#include "output_rule.h"
#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/core/threads.h"
#include "wrn/eval/evaluate_checkpoint.h"
#include "wrn/report/curves_plot.h"

namespace {

void add_eval_command(CLI::App& app) {
  struct Args {
    std::string checkpoint, data, split, device, png, precision, predictions;
    std::optional<int64_t> limit, batch_size;
    int threads = 0;
    bool json = false, no_png = false, optimized = false, tta = false, force = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("eval", "Evaluate a training checkpoint on a test split");
  cmd->footer("Example:\n  wrn eval --checkpoint runs/demo/checkpoints/best.ckpt --json");
  wrn::cli::add_checkpoint_option(cmd, args->checkpoint);
  cmd->add_option("--data", args->data, "Data set directory (default: the run's)");
  cmd->add_option("--split", args->split, "Split to evaluate (default: the run's test split)");
  cmd->add_option("--limit", args->limit, "Only the first N images (default: the run's data.limit_test; 0: all)");
  wrn::cli::add_batch_size_option(cmd, args->batch_size, "Evaluation batch size");
  wrn::cli::add_device_option(cmd, args->device, "default: cpu");
  wrn::cli::add_threads_option(cmd, args->threads);
  wrn::cli::add_precision_option(cmd, args->precision);
  cmd->add_flag("--optimized", args->optimized,
                "Run the BN-folded inference path that predict uses (default: the plain eval-mode forward)");
  cmd->add_option("--predictions", args->predictions,
                  "Also write each image's true and predicted class to this CSV (index,label,predicted[,file]; "
                  "-1: an image skipped by data.on_bad_image skip); -: to standard output (the summary then goes "
                  "to standard error)");
  cmd->add_option("--png", args->png, "Confusion-matrix PNG (default: confusion.png in the run directory)");
  cmd->add_flag("--force", args->force, "Replace an existing --predictions or --png file");
  cmd->add_flag("--no-png", args->no_png, "Do not write the confusion-matrix PNG");
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->add_flag("--tta", args->tta,
                "Test-time augmentation: average the class probabilities of each image and its horizontal mirror "
                "(always on for a run trained with eval_tta)");
  cmd->callback([args] {
    namespace t = wrn::train;
    namespace fs = std::filesystem;
    t::CheckpointEvalOptions o;
    o.data_dir = args->data;
    o.split = args->split;
    o.limit = args->limit;
    o.batch_size = args->batch_size;
    o.device = args->device.empty() ? "cpu" : args->device;
    o.validate();  // the options first: nothing is read or printed for a bad one
    WRN_CHECK(args->png.empty() || !args->no_png, "--png {} and --no-png: give one or the other", args->png);
    const bool csv_to_stdout = args->predictions == "-";
    if (!args->predictions.empty() && !csv_to_stdout)
      wrn::cli::check_output_file("--predictions", args->predictions, args->force);
    if (!args->png.empty()) wrn::cli::check_output_file("--png", args->png, args->force);
    std::string png = args->png;
    if (png.empty() && !args->no_png) {
      auto dir = fs::path(args->checkpoint).parent_path();
      png = (dir.filename() == "checkpoints" ? dir.parent_path() / "confusion.png"
                                             : dir / (fs::path(args->checkpoint).stem().string() + "-confusion.png"))
                .string();
      // The run's own confusion.png is replaced each time; anything but a regular file is not.
      wrn::cli::check_output_file("--png", png, true);
    }
    wrn::configure_threads(args->threads);
    o.precision = wrn::parse_precision(args->precision, "--precision");
    o.optimized = args->optimized;
    o.tta = args->tta;
    o.with_predictions = !args->predictions.empty();
    o.on_precision = wrn::cli::say_precision;
    const auto e = t::evaluate_checkpoint(args->checkpoint, o);
    const auto& r = e.result;
    const auto& config = e.config;
    if (csv_to_stdout) fmt::print("{}", t::predictions_csv(e));
    else if (!args->predictions.empty()) wrn::write_file_atomically(args->predictions, t::predictions_csv(e));
    std::FILE* report = csv_to_stdout ? stderr : stdout;
    const auto& names = e.class_names;
    if (!args->no_png) {
      t::ConfusionPlotOptions po;
      po.title = fmt::format("{} on {} ({})", e.model_name, config.data.kind, config.data.test_split);
      if (names.size() == r.confusion.size()) po.class_names = names;
      t::plot_confusion_matrix(png, r.confusion, po);
    }
    if (args->json) {
      nlohmann::json j;
      j["checkpoint"] = args->checkpoint;
      j["model"] = e.model_name;
      j["dataset"] = config.data.kind;
      j["split"] = config.data.test_split;
      j["images"] = r.images;
      j["top1_err"] = r.top1_err;
      j["top5_err"] = r.top5_err;
      j["loss"] = r.loss;
      j["precision"] = wrn::precision_name(e.precision.value);
      j["optimized"] = args->optimized;
      j["tta"] = e.tta ? "flip" : "none";
      if (!args->predictions.empty()) j["predictions_csv"] = args->predictions;
      j["per_class_accuracy"] = r.per_class_accuracy;
      j["class_names"] = names;
      j["confusion"] = r.confusion;
      if (!args->no_png) j["confusion_png"] = png;
      fmt::print(report, "{}\n", j.dump());
      return;
    }
    fmt::print(report, "checkpoint  {}\nmodel       {}\ndata        {} ({}, {} images){}\n", args->checkpoint,
               e.model_name, config.data.kind, config.data.test_split, r.images,
               e.tta ? ", each averaged with its mirror image (--tta, or the run's eval_tta)" : "");
    fmt::print(report, "top-1 error {:.2f}%  (accuracy {:.2f}%)\ntop-5 error {:.2f}%\nloss        {:.4f}\n", r.top1_err,
               100 - r.top1_err, r.top5_err, r.loss);
    fmt::print(report, "per-class accuracy:\n");
    for (size_t i = 0; i < r.per_class_accuracy.size(); ++i) {
      fmt::print(report, "  {:>3} {:<24} {:6.2f}%\n", i, i < names.size() ? names[i] : "", r.per_class_accuracy[i]);
    }
    if (r.confusion.size() <= 20) {
      fmt::print(report, "confusion matrix (rows: true class, columns: predicted):\n     ");
      for (size_t p = 0; p < r.confusion.size(); ++p) fmt::print(report, "{:>6}", p);
      fmt::print(report, "\n");
      for (size_t tr = 0; tr < r.confusion.size(); ++tr) {
        fmt::print(report, "  {:>3}", tr);
        for (auto v : r.confusion[tr]) fmt::print(report, "{:>6}", v);
        fmt::print(report, "\n");
      }
    }
    if (!args->no_png) fmt::print(report, "confusion matrix PNG: {}\n", png);
  });
}

}  // namespace

WRN_REGISTER_COMMAND(32, add_eval_command);
