// The training engine: one run directory, trained from a TrainConfig, resumable after a
// crash bit for bit (on the CPU with the same thread count).
//
// Run directory:
//   config.yaml               the resolved configuration
//   metrics.jsonl             one EpochMetrics line per finished epoch
//   checkpoints/last.ckpt     written at the start, every checkpoint.every_steps steps /
//                             every_seconds seconds inside an epoch, and after each epoch
//   checkpoints/previous.ckpt the last.ckpt before the latest one (a hard link, so no copy is
//                             written): resume falls back to it when last.ckpt is unreadable
//   checkpoints/best.ckpt     the lowest test (or validation) error so far (checkpoint.keep_best)
//   .lock                     flock'ed by the one train/resume writing here (train/run_lock.h)
//   curves.png, events.out.tfevents.*, report.md
//
// Reproducibility: the model is initialized from `seed`; the data order of epoch e is a
// permutation drawn from a generator seeded by (seed, e); augmentation draws from its own
// generator, reseeded by (seed, e) at each epoch start; dropout uses the default CPU (or
// CUDA) generator. Checkpoints hold all of their states, the optimizer, the step and the
// partial epoch's running sums, so a resumed run computes exactly what the uninterrupted
// one would have.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wrn/core/error.h"
#include "wrn/data/augment.h"
#include "wrn/data/batch_loader.h"
#include "wrn/data/dataset.h"
#include "wrn/data/preprocessing.h"
#include "wrn/data/split_data.h"
#include "wrn/dist/communicator.h"
#include "wrn/models/registry.h"
#include "wrn/io/checkpoint.h"
#include "wrn/config/config.h"
#include "wrn/eval/evaluate.h"
#include "wrn/setup/run_setup.h"
#include "wrn/report/metrics_log.h"

namespace wrn::train {

// The loss is NaN or infinite: training stopped. The message names the epoch, step and
// learning rate and the last good checkpoint (which is kept as it was).
class TrainingDiverged : public Error {
 public:
  using Error::Error;
};

// SIGINT or SIGTERM stopped the run (RunOptions::stop_on_signals) after checkpoints/last.ckpt
// was written at a step boundary; `wrn resume` continues it bitwise. The message says so.
class TrainingInterrupted : public Error {
 public:
  TrainingInterrupted(int signal, const std::string& message) : Error(message), signal_(signal) {}
  int signal() const { return signal_; }

 private:
  int signal_;
};

// The checkpoints of a run directory: <run_dir>/checkpoints/last.ckpt, best.ckpt and previous.ckpt.
std::string last_checkpoint_path(const std::string& run_dir);
std::string best_checkpoint_path(const std::string& run_dir);
std::string previous_checkpoint_path(const std::string& run_dir);

// How train() and resume() run: progress output (on stderr) and epochs.
struct RunOptions {
  bool quiet = false;            // no progress bar, only errors
  std::optional<int64_t> epochs;  // resume: a new total epoch count (extends a finished run)
  std::optional<Precision> precision;  // resume: another precision than the run's (not bitwise then)
  // SIGINT/SIGTERM finish the step, write last.ckpt and throw TrainingInterrupted (a second
  // signal ends the process at once). Off by default: a library should not take the
  // process's signals unasked; the wrn tool turns it on.
  bool stop_on_signals = false;
  // Data-parallel: this process is one rank of communicator's world (train/data_parallel.h).
  // Every rank calls train()/resume() with the same arguments; only rank 0 writes run_dir.
  std::shared_ptr<dist::Communicator> communicator;
  int default_threads = 0;  // > 0: intra-op threads when config.threads is 0 (a rank's share of the cores)
};

// Summary of a finished run (errors: top-1, percent).
struct RunResult {
  int64_t epochs_completed = 0;
  double final_test_error = 0;  // the last epoch's
  // The best epoch (the one in best.ckpt): chosen on the validation split when the run holds
  // one out (data.val_fraction > 0), else on the test split; its test error, and its
  // validation error (NaN without a validation split).
  int64_t best_epoch = 0;
  std::string best_chosen_on = "test";  // "test" or "validation"
  double best_test_error = std::numeric_limits<double>::quiet_NaN();
  double best_val_error = std::numeric_limits<double>::quiet_NaN();
  double wall_seconds = 0;
};

// "best epoch 3 (chosen on the validation split, validation error 3.10%): test error 4.20%",
// or "... (chosen on the test split): test error 4.20%": what the CLI prints.
std::string best_epoch_text(const RunResult& result);

// Starts a new run in `run_dir` (created; an existing checkpoint there is an error: use
// resume). Throws TrainingDiverged on a non-finite loss.
RunResult train(const TrainConfig& config, const std::string& run_dir, const RunOptions& options = {});

// Continues the run in `run_dir` from checkpoints/last.ckpt; from previous.ckpt (with a
// warning) when last.ckpt cannot be read; from config.yaml when the run stopped before its
// first checkpoint. Another process writing the directory is a one-line error.
RunResult resume(const std::string& run_dir, const RunOptions& options = {});

}  // namespace wrn::train
