// wrn eval --checkpoint FILE: test-set error, loss, per-class accuracy and confusion matrix
// of a training checkpoint.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <filesystem>

#include "command.h"
#include "precision_option.h"
#include "wrn/core/atomic_file.h"
#include "wrn/core/threads.h"
#include "wrn/infer/fused_model.h"
#include "wrn/models/precision.h"
#include "wrn/train/curves_plot.h"
#include "wrn/train/data_setup.h"
#include "wrn/train/trainer.h"

namespace {

// A CSV field (RFC 4180): quoted when it holds a comma, quote or line break.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

void add_eval_command(CLI::App& app) {
  struct Args {
    std::string checkpoint, data, split, device, png, precision, predictions;
    std::optional<int64_t> limit, batch_size;
    int threads = 0;
    bool json = false, no_png = false, optimized = false, tta = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("eval", "Evaluate a training checkpoint on a test split");
  cmd->footer("Example:\n  wrn eval --checkpoint runs/demo/checkpoints/best.ckpt --json");
  cmd->add_option("--checkpoint", args->checkpoint, "Checkpoint file (RUN_DIR/checkpoints/best.ckpt)")->required();
  cmd->add_option("--data", args->data, "Data set directory (default: the run's)");
  cmd->add_option("--split", args->split, "Split to evaluate (default: the run's test split)");
  cmd->add_option("--limit", args->limit, "Only the first N images (default: the run's data.limit_test; 0: all)");
  cmd->add_option("--batch-size", args->batch_size, "Evaluation batch size");
  cmd->add_option("--device", args->device, "cpu, cuda, cuda:N or auto (default: cpu)");
  cmd->add_option("--threads", args->threads, "Intra-op CPU threads (0: all cores)");
  wrn::cli::add_precision_option(cmd, args->precision);
  cmd->add_flag("--optimized", args->optimized,
                "Run the BN-folded inference path that predict uses (default: the plain eval-mode forward)");
  cmd->add_option("--predictions", args->predictions,
                  "Also write each image's true and predicted class to this CSV (index,label,predicted[,file]; "
                  "-1: an image skipped by data.on_bad_image skip)");
  cmd->add_option("--png", args->png, "Confusion-matrix PNG (default: confusion.png in the run directory)");
  cmd->add_flag("--no-png", args->no_png, "Do not write the confusion-matrix PNG");
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->add_flag("--tta", args->tta,
                "Test-time augmentation: average the class probabilities of each image and its horizontal mirror "
                "(always on for a run trained with eval_tta)");
  cmd->callback([args] {
    namespace t = wrn::train;
    namespace fs = std::filesystem;
    WRN_CHECK(!args->limit || *args->limit >= 0, "--limit: expected 0 (all images) or a positive count, got {}",
              *args->limit);
    WRN_CHECK(!args->batch_size || *args->batch_size >= 1, "--batch-size: expected a positive count, got {}",
              *args->batch_size);
    WRN_CHECK(args->png.empty() || !args->no_png, "--png {} and --no-png: give one or the other", args->png);
    wrn::configure_threads(args->threads);
    auto ck = wrn::io::load_checkpoint(args->checkpoint);
    auto config = t::config_from_yaml(YAML::Load(ck.config_yaml));
    if (!args->data.empty()) config.data.dir = args->data;
    if (!args->split.empty()) config.data.test_split = args->split;
    if (args->limit) config.data.limit_test = *args->limit;
    config.device = args->device.empty() ? "cpu" : args->device;
    const auto precision = wrn::cli::resolve_precision_option(args->precision, t::parse_device(config.device));
    config.precision = precision.value;
    // An image folder's labels in the order the model was trained with (a val split may miss a class).
    std::vector<std::string> class_names;
    if (config.data.kind == "folder") {
      const auto meta = nlohmann::json::parse(ck.meta_json.empty() ? "{}" : ck.meta_json, nullptr, false);
      if (meta.is_object() && meta.contains("class_names") && meta["class_names"].is_array())
        for (const auto& n : meta["class_names"])
          if (n.is_string()) class_names.push_back(n.get<std::string>());
    }
    auto setup = t::RunSetup::create(config, false, &ck.normalizer, class_names);
    wrn::io::load_state_dict(*setup.model, wrn::io::inference_weights(ck), "checkpoint " + args->checkpoint);
    const auto dtype = wrn::compute_dtype(precision.value);
    setup.model->eval();
    std::optional<wrn::infer::FusedClassifier> fused;
    if (args->optimized) {
      WRN_CHECK(setup.device.is_cpu(), "--optimized runs on the CPU (device {} asked for)", setup.device.str());
      wrn::infer::FuseOptions fo;
      fo.dtype = dtype;
      fused = wrn::infer::FusedClassifier::build(setup.model, fo);
    } else {
      wrn::models::cast_for_inference(*setup.model, dtype);
    }
    const int64_t batch = args->batch_size ? *args->batch_size
                                           : (config.data.test_batch_size > 0 ? config.data.test_batch_size
                                                                               : 2 * config.data.batch_size);
    t::EvalOptions eo;
    eo.batch_size = batch;
    eo.channels_last = config.channels_last;
    eo.with_confusion = true;
    eo.with_predictions = !args->predictions.empty();
    eo.tta_flip = args->tta || config.eval_tta;  // a run evaluated with it is evaluated the same way
    eo.input_dtype = fused ? torch::kFloat : dtype;  // the fused path casts its float input itself
    eo.loader = t::loader_options(config);
    auto r = fused ? t::evaluate([&](const torch::Tensor& x) { return fused->forward(x); },
                                 fused->num_classes(), setup.test, setup.preprocessing, setup.normalizer, eo)
                   : t::evaluate(*setup.model, setup.test, setup.preprocessing, setup.normalizer, eo);
    if (!args->predictions.empty()) {
      // Image folders: the file of each row too (what `wrn predict` prints for the same image).
      const auto& files = setup.test.files.paths;
      std::string csv = files.empty() ? "index,label,predicted\n" : "index,label,predicted,file\n";
      auto labels = setup.test.labels.cpu();
      for (size_t i = 0; i < r.predictions.size(); ++i) {
        csv += fmt::format("{},{},{}", i, labels[int64_t(i)].item<int64_t>(), r.predictions[i]);
        csv += files.empty() ? "\n" : "," + csv_field(files[i]) + "\n";
      }
      wrn::write_file_atomically(args->predictions, csv);
    }
    const auto& names = setup.test.class_names;
    std::string png = args->png;
    if (png.empty() && !args->no_png) {
      auto dir = fs::path(args->checkpoint).parent_path();
      png = (dir.filename() == "checkpoints" ? dir.parent_path() / "confusion.png"
                                             : dir / (fs::path(args->checkpoint).stem().string() + "-confusion.png"))
                .string();
    }
    if (!args->no_png) {
      t::ConfusionPlotOptions po;
      po.title = fmt::format("{} on {} ({})", setup.spec.name, config.data.kind, config.data.test_split);
      if (names.size() == r.confusion.size()) po.class_names = names;
      t::plot_confusion_matrix(png, r.confusion, po);
    }
    if (args->json) {
      nlohmann::json j;
      j["checkpoint"] = args->checkpoint;
      j["model"] = setup.spec.name;
      j["dataset"] = config.data.kind;
      j["split"] = config.data.test_split;
      j["images"] = r.images;
      j["top1_err"] = r.top1_err;
      j["top5_err"] = r.top5_err;
      j["loss"] = r.loss;
      j["precision"] = wrn::precision_name(precision.value);
      j["optimized"] = args->optimized;
      j["tta"] = eo.tta_flip ? "flip" : "none";
      if (!args->predictions.empty()) j["predictions_csv"] = args->predictions;
      j["per_class_accuracy"] = r.per_class_accuracy;
      j["class_names"] = names;
      j["confusion"] = r.confusion;
      if (!args->no_png) j["confusion_png"] = png;
      fmt::print("{}\n", j.dump());
      return;
    }
    fmt::print("checkpoint  {}\nmodel       {}\ndata        {} ({}, {} images){}\n", args->checkpoint,
               setup.spec.name, config.data.kind, config.data.test_split, r.images,
               eo.tta_flip ? ", each averaged with its mirror image (--tta, or the run's eval_tta)" : "");
    fmt::print("top-1 error {:.2f}%  (accuracy {:.2f}%)\ntop-5 error {:.2f}%\nloss        {:.4f}\n", r.top1_err,
               100 - r.top1_err, r.top5_err, r.loss);
    fmt::print("per-class accuracy:\n");
    for (size_t i = 0; i < r.per_class_accuracy.size(); ++i) {
      fmt::print("  {:>3} {:<24} {:6.2f}%\n", i, i < names.size() ? names[i] : "", r.per_class_accuracy[i]);
    }
    if (r.confusion.size() <= 20) {
      fmt::print("confusion matrix (rows: true class, columns: predicted):\n     ");
      for (size_t p = 0; p < r.confusion.size(); ++p) fmt::print("{:>6}", p);
      fmt::print("\n");
      for (size_t tr = 0; tr < r.confusion.size(); ++tr) {
        fmt::print("  {:>3}", tr);
        for (auto v : r.confusion[tr]) fmt::print("{:>6}", v);
        fmt::print("\n");
      }
    }
    if (!args->no_png) fmt::print("confusion matrix PNG: {}\n", png);
  });
}

}  // namespace

WRN_REGISTER_COMMAND(32, add_eval_command);
