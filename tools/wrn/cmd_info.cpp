// wrn info NAME: parameters, multiply-accumulates per image and each stage's output shape.
// wrn info CHECKPOINT: the same for a trained model, plus what it was trained on: the data
// set, the input and its normalization, the epochs done and the test accuracy.
// wrn info EXPORT (.safetensors, .onnx, TorchScript): the metadata the export carries (model,
// input, the preprocessing spec, class names; setup/export_metadata.h).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>

#include "command.h"
#include "common_options.h"
#include "model_options.h"
#include "wrn/core/error.h"
#include "wrn/core/text.h"
#include "wrn/core/threads.h"
#include "wrn/infer/onnx_export.h"
#include "wrn/infer/torchscript_export.h"
#include "wrn/io/safetensors.h"
#include "wrn/io/weights_file.h"
#include "wrn/models/summary.h"
#include "wrn/setup/checkpoint_model.h"
#include "wrn/setup/export_metadata.h"
#include "wrn/report/metrics_log.h"

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::vector<std::string> parts;
  for (auto d : shape) parts.push_back(std::to_string(d));
  return wrn::join(parts, "x");
}

// Percent accuracy from a percent error; NaN stays NaN.
double accuracy(double error) { return std::isfinite(error) ? 100.0 - error : std::nan(""); }

// The test error logged for `epoch` in the run directory holding `checkpoint`
// (RUN/checkpoints/x.ckpt -> RUN/metrics.jsonl); NaN when there is no such log or row.
double logged_test_error(const std::string& checkpoint, int64_t epoch) {
  namespace fs = std::filesystem;
  const auto log = fs::path(checkpoint).parent_path().parent_path() / "metrics.jsonl";
  std::error_code ec;
  if (epoch <= 0 || !fs::is_regular_file(log, ec)) return std::nan("");
  try {
    for (const auto& m : wrn::train::read_metrics(log.string()))
      if (m.epoch == epoch) return m.test_top1_err;
  } catch (const std::exception&) {  // a damaged log only costs the number
  }
  return std::nan("");
}

void checkpoint_info(const std::string& path, const std::string& input, bool json) {
  auto m = wrn::train::load_checkpoint_model(path, input);
  auto meta = nlohmann::json::parse(m.meta_json.empty() ? "{}" : m.meta_json, nullptr, false);
  if (!meta.is_object()) meta = nlohmann::json::object();
  const auto number = [&](const char* key, double fallback) {
    return meta.contains(key) && meta[key].is_number() ? meta[key].get<double>() : fallback;
  };
  const int64_t epochs_done = static_cast<int64_t>(number("epochs_done", 0));
  const int64_t best_epoch = static_cast<int64_t>(number("best_epoch", 0));
  const double last_error = logged_test_error(path, epochs_done);
  const auto summary = wrn::models::summarize(*m.model, m.spec.input);
  const auto& c = m.config;
  // The best epoch is chosen on the validation split when the run holds one out. Checkpoints
  // from before best_choice_error kept only the chooser's error (the validation error then):
  // the test error of that epoch comes from the run's metrics log.
  const bool on_val = c.data.val_fraction > 0;
  const bool has_choice = meta.contains("best_choice_error");
  const double best_error = has_choice || !on_val ? number("best_test_error", std::nan(""))
                                                  : logged_test_error(path, best_epoch);
  const double best_val_error = !on_val ? std::nan("")
                                : has_choice ? number("best_val_error", std::nan(""))
                                             : number("best_test_error", std::nan(""));
  const bool imported = meta.contains("imported_from");
  // What the run trained in (checkpoints from before the field: fp32). The weights are fp32 either way.
  const std::string precision = meta.contains("precision") && meta["precision"].is_string()
                                    ? meta["precision"].get<std::string>()
                                    : std::string("fp32");
  const auto opt_number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  if (json) {
    nlohmann::json j;
    j["checkpoint"] = path;
    j["model"] = m.spec.name;
    j["family"] = m.model->family();
    j["classes"] = m.spec.classes;
    j["input"] = {m.spec.input.channels, m.spec.input.height, m.spec.input.width};
    j["params"] = summary.params;
    j["macs"] = summary.macs;
    j["data"] = {{"kind", c.data.kind}, {"dir", c.data.dir}};
    j["preset"] = c.preset;
    j["preprocessing"] = nlohmann::json::parse(m.preprocessing.to_json());
    j["normalization"] = m.normalizer.fitted()
                             ? nlohmann::json{{"mean", m.normalizer.mean()}, {"std", m.normalizer.std()},
                                              {"zca", m.normalizer.has_zca()}}
                             : nlohmann::json();
    j["epochs_done"] = epochs_done;
    j["epochs_planned"] = c.epochs;
    if (!imported) j["trained_precision"] = precision;
    j["best_test_accuracy"] = opt_number(accuracy(best_error));
    j["best_epoch"] = best_epoch;
    j["best_chosen_on"] = on_val ? "validation" : "test";
    j["best_val_accuracy"] = opt_number(accuracy(best_val_error));
    j["last_test_accuracy"] = opt_number(accuracy(last_error));
    if (imported) j["imported_from"] = meta["imported_from"];
    j["class_names"] = m.class_names;
    fmt::print("{}\n", j.dump());
    return;
  }
  const auto percent = [](double v) { return std::isfinite(v) ? fmt::format("{:.2f}%", v) : std::string("n/a"); };
  fmt::print("checkpoint {}\n", path);
  fmt::print("model      {} ({}), {} classes, {} params ({:.2f}M), {:.3f} GMACs per image\n", m.spec.name,
             m.model->family(), m.spec.classes, wrn::thousands(summary.params), summary.params / 1e6, summary.macs / 1e9);
  fmt::print("data       {}{}{}\n", c.data.kind, c.data.dir.empty() ? "" : " from " + c.data.dir,
             c.preset.empty() ? "" : ", preset " + c.preset);
  fmt::print("input      {}\n", m.spec.input.str());
  fmt::print("preprocess {}\n", m.preprocessing.describe());
  if (m.normalizer.fitted()) {
    fmt::print("normalize  mean {} std {} (0..255 scale){}\n", fmt::join(m.normalizer.mean(), ","),
               fmt::join(m.normalizer.std(), ","), m.normalizer.has_zca() ? ", then ZCA whitening" : "");
  } else {
    fmt::print("normalize  none stored\n");
  }
  if (imported) {
    fmt::print("weights    imported from {}\n", meta["imported_from"].is_string() ? meta["imported_from"].get<std::string>() : meta["imported_from"].dump());
  } else {
    fmt::print("epochs     {} of {} done, trained in {} (weights stored in fp32)\n", epochs_done, c.epochs, precision);
    const std::string chosen =
        on_val ? fmt::format("chosen on the validation split: validation accuracy {}", percent(accuracy(best_val_error)))
               : std::string("chosen on the test split");
    fmt::print("accuracy   best test {}{}, at this checkpoint {}\n", percent(accuracy(best_error)),
               best_epoch > 0 ? fmt::format(" (epoch {}, {})", best_epoch, chosen) : "", percent(accuracy(last_error)));
  }
  if (!m.class_names.empty()) fmt::print("classes    {}\n", fmt::join(m.class_names, ", "));
}

// "safetensors", "onnx" or "torchscript" for an export wrn info reads the metadata of; "" for
// anything else (a checkpoint, or a file that checkpoint_info rejects).
std::string export_kind(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".onnx") return "onnx";
  try {
    switch (wrn::io::detect_weights_format(path)) {
      case wrn::io::WeightsFormat::Safetensors: return "safetensors";
      case wrn::io::WeightsFormat::Pt: return "torchscript";  // a zip: TorchScript, or a .pt (rejected there)
      case wrn::io::WeightsFormat::Checkpoint: return "";
    }
  } catch (const std::exception&) {
  }
  return "";
}

void export_info(const std::string& path, const std::string& kind, bool json) {
  std::map<std::string, std::string> meta;
  if (kind == "safetensors") {
    meta = wrn::io::load_safetensors(path).metadata;
  } else if (kind == "onnx") {
    meta = wrn::infer::read_onnx_metadata(path);
  } else {
    try {
      meta = wrn::infer::read_torchscript_metadata(path);
    } catch (const wrn::FileError&) {
      throw wrn::FileError(fmt::format(
          "{}: not a wrn checkpoint or an export with metadata (a PyTorch state_dict .pt carries none; "
          "wrn info reads .safetensors, .onnx and TorchScript exports)",
          path));
    }
  }
  const auto preprocessing = wrn::train::metadata_preprocessing(meta, path);
  const auto class_names = wrn::train::metadata_class_names(meta, path);
  const auto value = [&](const char* key) { return meta.count(key) ? meta.at(key) : std::string("?"); };
  if (json) {
    nlohmann::json j;
    j["export"] = path;
    j["format"] = kind;
    j["metadata"] = meta;
    j["preprocessing"] = preprocessing ? nlohmann::json(preprocessing->describe()) : nlohmann::json();
    j["class_names"] = class_names;
    fmt::print("{}\n", j.dump());
    return;
  }
  fmt::print("export     {} ({})\n", path, kind);
  fmt::print("model      {}, {} classes, input {}\n", value("wrn.model"), value("wrn.classes"), value("wrn.input"));
  fmt::print("preprocess {}\n", preprocessing ? preprocessing->describe() : std::string("none stored"));
  if (!class_names.empty()) fmt::print("classes    {}\n", fmt::join(class_names, ", "));
}

void add_info_command(CLI::App& app) {
  struct Args {
    wrn::cli::ModelArgs model;
    bool json = false;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("info", "Parameter count, multiply-accumulates and stage shapes of a model");
  cmd->footer("Examples:\n  wrn info wrn-28-10 --classes 100""\n  wrn info runs/demo/checkpoints/best.ckpt     # what a checkpoint holds");
  cmd->add_option("model", args->model.name,
                  "Model name (see 'wrn models'; any wrn-D-K), a checkpoint, or an export (.safetensors, .onnx, TorchScript)")
      ->required();
  args->model.add_options(cmd);
  cmd->add_flag("--json", args->json, "Print one JSON object");
  wrn::cli::add_threads_option(cmd, args->threads);
  cmd->callback([args] {
    wrn::configure_threads(args->threads);
    std::error_code ec;
    if (std::filesystem::is_regular_file(args->model.name, ec)) {
      WRN_CHECK(args->model.classes == 0 && args->model.settings.empty(),
                "info {}: --classes and --set apply to a model name, not to a checkpoint", args->model.name);
      const auto kind = export_kind(args->model.name);
      if (!kind.empty()) {
        WRN_CHECK(args->model.input.empty(), "info {}: --input applies to a model name or a checkpoint, not to an export",
                  args->model.name);
        export_info(args->model.name, kind, args->json);
        return;
      }
      checkpoint_info(args->model.name, args->model.input, args->json);
      return;
    }
    auto spec = wrn::models::resolve_spec(args->model.spec());
    auto model = wrn::models::build_model(spec);
    auto summary = wrn::models::summarize(*model, spec.input);
    if (args->json) {
      nlohmann::json j;
      j["model"] = spec.name;
      j["family"] = model->family();
      j["classes"] = spec.classes;
      j["input"] = {spec.input.channels, spec.input.height, spec.input.width};
      j["params"] = summary.params;
      j["macs"] = summary.macs;
      j["stages"] = nlohmann::json::array();
      for (const auto& s : summary.stages) j["stages"].push_back({{"name", s.name}, {"shape", s.shape}});
      fmt::print("{}\n", j.dump());
      return;
    }
    fmt::print("model    {} ({})\n", spec.name, model->family());
    fmt::print("input    {}\n", spec.input.str());
    fmt::print("classes  {}\n", spec.classes);
    fmt::print("params   {} ({:.2f}M)\n", wrn::thousands(summary.params), summary.params / 1e6);
    fmt::print("MACs     {} ({:.3f} G per image, forward)\n", wrn::thousands(summary.macs), summary.macs / 1e9);
    fmt::print("stages:\n");
    for (const auto& s : summary.stages) fmt::print("  {:<8} {}\n", s.name, shape_text(s.shape));
  });
}

}  // namespace

WRN_REGISTER_COMMAND(20, add_info_command);
