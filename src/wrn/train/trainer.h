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
#include "wrn/train/config.h"
#include "wrn/train/metrics_log.h"

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

// The checkpoints of a run directory: <run_dir>/checkpoints/last.ckpt and best.ckpt.
std::string last_checkpoint_path(const std::string& run_dir);
std::string best_checkpoint_path(const std::string& run_dir);
std::string previous_checkpoint_path(const std::string& run_dir);

// Test-set numbers of a model.
struct EvalResult {
  int64_t images = 0;
  double loss = 0;       // mean cross-entropy
  double top1_err = 0;   // percent
  double top5_err = 0;   // percent (top-k with k = min(5, classes))
  // The sums behind them (data-parallel evaluation adds them over the ranks).
  double loss_sum = 0;
  int64_t correct1 = 0, correct5 = 0;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted], when asked for
  std::vector<double> per_class_accuracy;       // percent, when the confusion matrix was asked for
  std::vector<int64_t> predictions;             // top-1 class of each image in order, when asked for
                                                // (-1 for an image left out: data.on_bad_image skip)
};

struct EvalOptions {
  int64_t batch_size = 256;
  bool channels_last = false;    // batches in channels-last memory format
  bool with_confusion = false;   // EvalResult::confusion and per_class_accuracy
  bool with_predictions = false; // EvalResult::predictions
  // The batches are cast to it before the forward: BFloat16 for a model whose convolutions run
  // in bf16 (models::cast_for_inference, MixedPrecisionWeights). Loss and counts stay float32.
  c10::ScalarType input_dtype = c10::kFloat;
  data::LoaderOptions loader;    // a streamed split: its decoding threads
  // Test-time augmentation: the class probabilities averaged over each image and its
  // horizontal mirror (loss and errors of the average).
  bool tta_flip = false;
};

// Runs `model` (eval mode, no autograd) over `data` in batches. `data` and the model are on
// the same device; the normalizer turns uint8 batches into the model's input.
EvalResult evaluate(models::ClassifierImpl& model, const data::Dataset& data, const data::Normalizer& normalizer,
                    const EvalOptions& options);

// The same with any forward, e.g. infer::FusedClassifier::forward (float [N, C, H, W] in,
// logits [N, classes] out); `classes` sizes the confusion matrix.
using ForwardFn = std::function<torch::Tensor(const torch::Tensor&)>;
EvalResult evaluate(const ForwardFn& forward, int64_t classes, const data::Dataset& data,
                    const data::Normalizer& normalizer, const EvalOptions& options);

// The same over a split in memory or streamed (decoded by `spec`'s evaluation transform).
EvalResult evaluate(models::ClassifierImpl& model, const data::SplitData& split, const data::Preprocessing& spec,
                    const data::Normalizer& normalizer, const EvalOptions& options);
EvalResult evaluate(const ForwardFn& forward, int64_t classes, const data::SplitData& split,
                    const data::Preprocessing& spec, const data::Normalizer& normalizer, const EvalOptions& options);

// Mean cross-entropy and top-k correct counts of one batch of logits.
struct BatchStats {
  torch::Tensor loss_sum;  // double scalar: sum of per-image losses
  torch::Tensor correct1;  // int64 scalar
  torch::Tensor correct5;  // int64 scalar
};
BatchStats batch_stats(const torch::Tensor& logits, const torch::Tensor& labels);

// The pieces a run (or `wrn eval`) needs, built from a config: device, data, normalizer and
// model (on the device, with FlatParameters-ready parameters).
struct RunSetup {
  TrainConfig config;         // with the data's image size and channels resolved (data.image_size, ...)
  torch::Device device{torch::kCPU};
  // In memory: on `device`. val: data.val_fraction of the train split (empty without), the
  // split that chooses best.ckpt when present.
  data::SplitData train, val, test;
  data::Preprocessing preprocessing;  // resolved, with the normalizer's mean and std
  std::string storage;                // how the splits are held, and why (data_setup.h)
  data::Normalizer normalizer;
  models::ModelSpec spec;     // resolved
  models::Classifier model;
  // config.precision resolved for `device` (config.precision is set to its value: never auto).
  ResolvedPrecision precision;

  // Loads the data (train only when `load_train`), fits the normalizer (unless
  // `normalizer_state` is given; a streamed train split: on a seeded sample of up to 5,000
  // images), seeds the default generator and builds the model. model.input, when set, must
  // agree with data.image_size and data.channels (and sets them when those are unset).
  // Throws ConfigError / FileError from the layers below.
  // `class_names`: the label order of the test split when the train split is not loaded (a
  // checkpoint's names, see data_setup.h).
  static RunSetup create(const TrainConfig& config, bool load_train,
                         const std::vector<torch::Tensor>* normalizer_state = nullptr,
                         const std::vector<std::string>& class_names = {});
};

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

// Summary of a finished run.
struct RunResult {
  int64_t epochs_completed = 0;
  double final_test_error = 0;
  double best_test_error = 0;
  double wall_seconds = 0;
};

// Starts a new run in `run_dir` (created; an existing checkpoint there is an error: use
// resume). Throws TrainingDiverged on a non-finite loss.
RunResult train(const TrainConfig& config, const std::string& run_dir, const RunOptions& options = {});

// Continues the run in `run_dir` from checkpoints/last.ckpt; from previous.ckpt (with a
// warning) when last.ckpt cannot be read; from config.yaml when the run stopped before its
// first checkpoint. Another process writing the directory is a one-line error.
RunResult resume(const std::string& run_dir, const RunOptions& options = {});

// Device from a config string ("cpu", "cuda", "cuda:1"); ConfigError when CUDA is asked
// for but not available.
torch::Device parse_device(const std::string& text);

}  // namespace wrn::train
