#include "wrn/eval/evaluate_checkpoint.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "wrn/core/error.h"
#include "wrn/infer/fused_model.h"
#include "wrn/io/checkpoint.h"
#include "wrn/models/precision.h"
#include "wrn/setup/checkpoint_model.h"
#include "wrn/setup/data_setup.h"
#include "wrn/setup/run_setup.h"

namespace wrn::train {
namespace {

// A CSV field (RFC 4180): quoted when it holds a comma, quote or line break.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

void CheckpointEvalOptions::validate() const {
  WRN_CHECK(!limit || *limit >= 0, "--limit: expected 0 (all images) or a positive count, got {}", *limit);
  WRN_CHECK(!batch_size || *batch_size >= 1, "--batch-size: expected a positive count, got {}", *batch_size);
}

CheckpointEvaluation evaluate_checkpoint(const std::string& path, const CheckpointEvalOptions& options) {
  options.validate();
  auto ck = io::load_checkpoint(path);
  auto config = config_from_yaml(YAML::Load(ck.config_yaml));
  if (!options.data_dir.empty()) config.data.dir = options.data_dir;
  if (!options.split.empty()) config.data.test_split = options.split;
  if (options.limit) config.data.limit_test = *options.limit;
  config.device = options.device;
  const auto precision = resolve_precision(options.precision, parse_device(options.device), "--precision");
  config.precision = precision.value;
  if (options.on_precision) options.on_precision(precision);
  // An image folder's labels in the order the model was trained with (a split may miss a class).
  const auto class_names = config.data.kind == "folder" ? stored_class_names(ck.meta_json) : std::vector<std::string>{};
  auto setup = RunSetup::create(config, false, &ck.normalizer, class_names);
  io::load_state_dict(*setup.model, io::inference_weights(ck), "checkpoint " + path);
  const auto dtype = compute_dtype(precision.value);
  setup.model->eval();
  std::optional<infer::FusedClassifier> fused;
  if (options.optimized) {
    WRN_CHECK(setup.device.is_cpu(), "--optimized runs on the CPU (device {} asked for)", setup.device.str());
    infer::FuseOptions fo;
    fo.dtype = dtype;
    fused = infer::FusedClassifier::build(setup.model, fo);
  } else {
    models::cast_for_inference(*setup.model, dtype);
  }
  EvalOptions eo;
  eo.batch_size = options.batch_size ? *options.batch_size
                                     : (config.data.test_batch_size > 0 ? config.data.test_batch_size
                                                                         : 2 * config.data.batch_size);
  eo.channels_last = config.uses_channels_last();
  eo.with_confusion = true;
  eo.with_predictions = options.with_predictions;
  eo.tta_flip = options.tta || config.eval_tta;  // a run evaluated with it is evaluated the same way
  eo.input_dtype = fused ? torch::kFloat : dtype;  // the fused path casts its float input itself
  eo.loader = loader_options(config);

  CheckpointEvaluation out;
  out.result = fused ? evaluate([&](const torch::Tensor& x) { return fused->forward(x); }, fused->num_classes(),
                                setup.test, setup.preprocessing, setup.normalizer, eo)
                     : evaluate(*setup.model, setup.test, setup.preprocessing, setup.normalizer, eo);
  out.config = setup.config;
  out.model_name = setup.spec.name;
  out.class_names = setup.test.class_names;
  out.files = setup.test.files.paths;
  const auto labels = setup.test.labels.cpu().to(torch::kLong).contiguous();
  out.labels.assign(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel());
  out.precision = precision;
  out.tta = eo.tta_flip;
  return out;
}

std::string predictions_csv(const CheckpointEvaluation& e) {
  // Image folders: the file of each row too (what `wrn predict` prints for the same image).
  const auto& files = e.files;
  std::string csv = files.empty() ? "index,label,predicted\n" : "index,label,predicted,file\n";
  const auto& p = e.result.predictions;
  for (size_t i = 0; i < p.size(); ++i) {
    csv += fmt::format("{},{},{}", i, i < e.labels.size() ? e.labels[i] : -1, p[i]);
    csv += files.empty() ? "\n" : "," + csv_field(i < files.size() ? files[i] : std::string()) + "\n";
  }
  return csv;
}

}  // namespace wrn::train
