// The engine's output: its sinks (report/sinks.h), the start-up lines, report.md
// and curves.png, and the run's result: see engine.h.
#include <fmt/format.h>

#include <ATen/Parallel.h>

#include <cmath>
#include <filesystem>

#include "wrn/core/text.h"
#include "wrn/models/summary.h"
#include "wrn/report/curves_plot.h"
#include "wrn/report/report.h"
#include "wrn/train/engine.h"

namespace fs = std::filesystem;

namespace wrn::train {
namespace {

std::string device_text(const torch::Device& d, int threads) {
  return d.is_cuda() ? fmt::format("CUDA ({})", d.str()) : fmt::format("CPU, {} threads", threads);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Output

// The sinks, rewound to the restored position: the logs are cut back to the checkpoint's
// epochs and steps (a crash after an append and before the checkpoint leaves lines too many;
// they are recomputed identically). Only the writer (rank 0) has sinks.
void Engine::open_sinks() {
  if (!writer_) return;  // the other ranks write nothing and print nothing
  remove_stale_temp_files();
  history_ = read_metrics((fs::path(run_dir_) / "metrics.jsonl").string());
  if (static_cast<int64_t>(history_.size()) > counters_.epochs_done)
    history_.resize(static_cast<size_t>(counters_.epochs_done));
  out_ = options_.quiet ? nullptr : stderr;
  if (out_) sinks_.push_back(make_progress_sink(static_cast<int>(s_.config.epochs), steps_per_epoch_, out_));
  sinks_.push_back(make_metrics_log_sink(run_dir_));
  sinks_.push_back(make_step_log_sink(run_dir_, s_.config.log_every_steps > 0));
  sinks_.push_back(make_tensorboard_sink(run_dir_));
  const RunPosition at{counters_.epochs_done, counters_.global_step};
  for (auto& sink : sinks_) sink->rewind_to(at, history_);
}

// Temporaries of writes a kill interrupted (core/atomic_file names them .NAME.tmpNNNNNN
// beside the target): never renamed, never read, removed when the run starts or resumes.
void Engine::remove_stale_temp_files() const {
  for (const auto& dir : {fs::path(run_dir_), fs::path(run_dir_) / "checkpoints"}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const auto name = e.path().filename().string();
      const auto tmp = name.rfind(".tmp");
      if (name.size() > 1 && name[0] == '.' && tmp != std::string::npos && tmp + 4 < name.size() &&
          name.find_first_not_of("0123456789", tmp + 4) == std::string::npos && e.is_regular_file(ec))
        fs::remove(e.path(), ec);
    }
  }
}

void Engine::say(const std::string& line) const {
  if (out_) fmt::print(out_, "{}\n", line);
}

void Engine::announce() const {
  const auto& c = s_.config;
  say(fmt::format("wrn train: {} ({} params) on {} [{} train / {} test images, {}], {}", s_.spec.name,
                  models::count_parameters(*s_.model), device_text(s_.device, at::get_num_threads()), n_train_,
                  s_.test.size(), c.data.kind, schedule_->describe()));
  say(fmt::format("  {} epochs x {} steps of {} images; run directory {}", c.epochs, steps_per_epoch_, batch_,
                  run_dir_));
  say(fmt::format("  images {}", s_.preprocessing.describe()));
  say(fmt::format("  data {}{}", s_.storage,
                  s_.val.size() > 0 ? fmt::format("; {} validation images choose best.ckpt", s_.val.size()) : ""));
  say(fmt::format("  precision {} ({}){}", precision_name(c.precision), s_.precision.reason,
                  c.precision == Precision::Fp32 ? "" : "; fp32 master weights, BatchNorm and loss"));
  if (!s_.precision.warning.empty()) say("  warning: " + s_.precision.warning);
  if (!s_.layout_reason.empty()) say(fmt::format("  layout {} ({})", c.uses_channels_last() ? "channels_last" : "NCHW",
                                                 s_.layout_reason));
  const auto extras = recipe_extras();
  if (!extras.empty()) say("  recipe: " + join(extras, ", "));
  if (dp_) {
    say(fmt::format("  data-parallel: {} rank{} x {} images, BatchNorm {}, gradients averaged in {} allreduce "
                    "bucket(s) of up to {} MB ({:.1f} MB per step), {}",
                    dp_->size(), dp_->size() == 1 ? "" : "s", batch_ / dp_->size(),
                    c.model.sync_bn ? "synchronized" : "per rank", dp_->buckets(), c.distributed.bucket_mb,
                    dp_->bytes_per_step() / 1e6,
                    dp_->overlapped() ? "each started during the backward pass once its gradients are final"
                                      : "all after the backward pass"));
  }
}

// The options beyond the 2016 papers' recipes that are on, for the start-up lines and report.md.
std::vector<std::string> Engine::recipe_extras() const {
  const auto& c = s_.config;
  std::vector<std::string> out;
  if (auto extra = optimizer_recipe_extra(c.optimizer); !extra.empty()) out.push_back(extra);
  if (c.optimizer.no_decay_bn_bias) out.push_back("no weight decay on BatchNorm and biases");
  if (c.optimizer.clip_grad_norm > 0) out.push_back(fmt::format("gradient norm clipped at {:g}", c.optimizer.clip_grad_norm));
  if (c.loss.label_smoothing > 0) out.push_back(fmt::format("label smoothing {:g}", c.loss.label_smoothing));
  for (const auto& e : pipeline_.extras()) out.push_back(e);  // the batch augmentations
  if (c.eval_tta) out.push_back("test-time flip averaging in each epoch's evaluation");
  if (c.ema.enabled()) out.push_back(fmt::format("weight EMA {:g}{} (evaluated and exported)", c.ema.decay,
                                                 c.ema.warmup ? " with warm-up" : ""));
  return out;
}

// The progress line's tail: the data pipeline's share, the fp16 loss scale, the allreduce time
// ("allreduce 4.1 ms/step (310 MB/s)": this epoch's gradient reductions on rank 0's clock;
// overlapped, "allreduce 0.8 ms/step (after the backward; 5 of 6 buckets overlapped)": only the
// wait the backward pass did not hide, and how many buckets of the last step started in it).
std::string Engine::epoch_notes() {
  std::string notes = fmt::format("data {:.1f}%", 100.0 * data_seconds_ / std::max(train_seconds_, 1e-9));
  if (scaler_.enabled())
    notes += fmt::format("  loss scale {:g}, {} steps skipped", scaler_.scale(), scaler_.skipped_steps());
  if (dp_ && dp_->size() > 1) {
    const int64_t steps = dp_->reduce_steps();
    const double s = dp_->take_reduce_seconds();
    if (steps > 0 && s > 0 && dp_->overlapped())
      notes += fmt::format("  allreduce {:.1f} ms/step (after the backward; {} of {} buckets overlapped)",
                           1e3 * s / steps, dp_->buckets_started_in_backward(), dp_->buckets());
    else if (steps > 0 && s > 0)
      notes += fmt::format("  allreduce {:.1f} ms/step ({:.0f} MB/s)", 1e3 * s / steps,
                           dp_->bytes_per_step() * steps / s / 1e6);
  }
  return notes;
}

// curves.png and report.md from the history.
void Engine::write_figures() const {
  const auto& c = s_.config;
  CurvesPlotOptions po;
  po.title = fmt::format("{} on {}", s_.spec.name, c.data.kind);
  plot_curves((fs::path(run_dir_) / "curves.png").string(), history_, po);
  ReportInputs r;
  r.run_name = fs::path(run_dir_).filename().string();
  if (r.run_name.empty()) r.run_name = fs::path(run_dir_).parent_path().filename().string();
  r.model_name = s_.spec.name;
  r.num_params = models::count_parameters(*s_.model);
  r.dataset = c.data.kind;
  r.preset = c.preset;
  r.device = device_text(s_.device, at::get_num_threads());
  r.hyperparameters = {{"batch size", std::to_string(c.data.batch_size)},
                       {"schedule", schedule_->describe()},
                       {"optimizer", describe_optimizer(c.optimizer)},
                       {"weight decay", fmt::format("{}", c.optimizer.weight_decay)},
                       {"epochs", std::to_string(c.epochs)},
                       {"preprocessing", s_.preprocessing.describe()},
                       {"data", s_.storage},
                       {"seed", std::to_string(c.seed)},
                       {"precision", fmt::format("{} ({})", precision_name(c.precision), s_.precision.reason)}};
  for (const auto& [k, v] : c.model.settings) r.hyperparameters.emplace_back("model " + k, v);
  for (const auto& extra : recipe_extras()) r.hyperparameters.emplace_back("extra", extra);
  if (dp_)
    r.hyperparameters.emplace_back("data parallel", fmt::format("{} ranks, BatchNorm {}", dp_->size(),
                                                                c.model.sync_bn ? "synchronized" : "per rank"));
  r.epochs_planned = static_cast<int>(c.epochs);
  if (c.paper.present()) r.paper = PaperReference{c.paper.error, c.paper.source};
  if (auto changes = changes_from_preset(c)) {  // what this run changed of the shipped preset
    r.preset_found = true;
    r.recipe_changes = std::move(*changes);
  }
  r.notes = c.description;
  if (!skipped_.empty()) {
    r.notes += fmt::format("{}{} training images could not be read and were skipped (data.on_bad_image skip):\n",
                           r.notes.empty() ? "" : "\n\n", skipped_.size());
    for (const auto& [file, message] : skipped_) r.notes += fmt::format("- {}\n", message);
  }
  if (!eval_skipped_.empty()) {
    r.notes += fmt::format("{}{} validation/test images could not be read and were left out of the evaluation "
                           "(data.on_bad_image skip):\n",
                           r.notes.empty() ? "" : "\n\n", eval_skipped_.size());
    for (const auto& [file, message] : eval_skipped_) r.notes += fmt::format("- {}\n", message);
  }
  fill_results(r, history_);
  write_report((fs::path(run_dir_) / "report.md").string(), r);
}

// A training image the loader skipped (data.on_bad_image skip): listed once in the report.
void Engine::note_skipped(int64_t index, const std::string& message) {
  const auto& file = s_.train.streamed() ? s_.train.files.paths[size_t(index)] : std::to_string(index);
  if (skipped_.emplace(file, message).second && out_) say(fmt::format("  skipped: {}", message));
}

// A validation/test image left out of the evaluation (data.on_bad_image skip): said once when
// first met, listed in the report.
void Engine::note_eval_skipped(const std::string& split, const std::string& file, const std::string& message) {
  if (eval_skipped_.emplace(file, split + ": " + message).second && out_)
    say(fmt::format("  left out of the {} evaluation: {}", split, message));
}

RunResult Engine::result() const {
  RunResult result;
  result.epochs_completed = counters_.epochs_done;
  if (!history_.empty()) result.final_test_error = history_.back().test_top1_err;
  result.best_epoch = counters_.best_epoch;
  result.best_chosen_on = s_.val.size() > 0 ? "validation" : "test";
  result.best_test_error = counters_.best_test_error;
  result.best_val_error = counters_.best_val_error;
  if (!std::isfinite(result.best_test_error))  // a checkpoint from before these fields: from the metrics
    for (const auto& h : history_)
      if (h.epoch == counters_.best_epoch) result.best_test_error = h.test_top1_err, result.best_val_error = h.val_top1_err;
  for (const auto& h : history_) result.wall_seconds += h.seconds;
  return result;
}

}  // namespace wrn::train
