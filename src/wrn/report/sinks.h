// Where a run reports, beside its checkpoints: the metrics log (metrics.jsonl), the step log
// (steps.jsonl), TensorBoard events and the progress display, each behind one small
// interface. The engine keeps a list of sinks and calls every one at the same points; only the
// process that writes the run directory (rank 0) has any.
//
// Adding a logger (docs/recipes.md): a class implementing RunSink (here, or in its own file in
// report/) and one line in the engine's list (Engine::open_sinks in train/engine_report.cpp).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wrn/report/metrics_log.h"

namespace wrn::train {

// Where a run (re)starts: after `epochs_done` epochs and `global_step` steps.
struct RunPosition {
  int64_t epochs_done = 0;
  int64_t global_step = 0;
};

// One training step, as the sinks see it.
struct StepEvent {
  int epoch = 0;                 // 1-based
  int64_t images = 0;            // images the step counted (the global batch under data parallelism; this
                                 // rank's images for a step skipped for too few of them)
  std::optional<double> loss;    // the step's loss, when the engine read it on the host
  const StepMetrics* logged = nullptr;  // every log_every_steps steps: loss, lr, images/s; else null
};

class RunSink {
 public:
  virtual ~RunSink() = default;
  // Once, before the first epoch of a start or a resume: the run continues from `position`,
  // and `history` holds its finished epochs (the metrics log cut back to them). A sink drops
  // whatever it holds beyond that point (written by a run killed before its checkpoint), so
  // that nothing is reported twice.
  virtual void rewind_to(const RunPosition& position, const std::vector<EpochMetrics>& history) {}
  // Epoch `epoch` (1-based) starts with `steps_done` of its steps already done (a resume inside it).
  virtual void on_epoch_start(int epoch, int64_t steps_done) {}
  virtual void on_step(const StepEvent& step) {}
  // The epoch's numbers; `notes`: the engine's extra words for the progress line (data share,
  // loss scale, allreduce time).
  virtual void on_epoch(const EpochMetrics& metrics, const std::string& notes) {}
};

// RUN/metrics.jsonl: one line per epoch; rewritten whole (by rename) at rewind_to, because a
// crash inside an append leaves a torn last line that the next append would be glued onto.
std::unique_ptr<RunSink> make_metrics_log_sink(const std::string& run_dir);
// RUN/steps.jsonl: the logged steps (append: log_every_steps > 0); an existing file is cut back
// to the run's step at rewind_to either way.
std::unique_ptr<RunSink> make_step_log_sink(const std::string& run_dir, bool append);
// RUN/events.out.tfevents.*: one event file written anew at rewind_to from the logs (steps.jsonl,
// the history), then the older files removed; then every logged step and epoch.
std::unique_ptr<RunSink> make_tensorboard_sink(const std::string& run_dir);
// The progress bar or lines on `out` (report/progress.h); the line in progress is ended when
// the sink is destroyed mid-epoch (an error or a stop signal unwinding the run).
std::unique_ptr<RunSink> make_progress_sink(int epochs, int64_t steps_per_epoch, std::FILE* out);

}  // namespace wrn::train
