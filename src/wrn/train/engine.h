// The training engine behind train() and resume() (train/trainer.h): one run directory,
// trained epoch by epoch from a RunSetup. Internal to the train layer.
//
// A run:   run() = open the sinks -> for each epoch: train_epoch() -> end_epoch()
// A step:  train_step() = next_batch -> augment (the batch pipeline) -> forward_backward ->
//          [data parallel: agree_and_reduce] -> update -> count -> finish_step (sinks)
// An epoch's end: epoch_metrics (train sums, evaluation) -> the sinks -> best.ckpt and
//          last.ckpt -> report.md and curves.png
// Everything a checkpoint holds comes from make_checkpoint(), and restore() is its inverse,
// so a resumed run computes exactly what the uninterrupted one would have.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "wrn/data/batch_loader.h"
#include "wrn/data/batch_pipeline.h"
#include "wrn/optim/flat_parameters.h"
#include "wrn/optim/loss_scaler.h"
#include "wrn/optim/lr_schedule.h"
#include "wrn/optim/mixed_precision.h"
#include "wrn/optim/optimizer.h"
#include "wrn/optim/weight_average.h"
#include "wrn/report/sinks.h"
#include "wrn/train/data_parallel.h"
#include "wrn/train/run_state.h"
#include "wrn/train/trainer.h"

namespace wrn::train {

class Engine {
 public:
  // Builds the optimizer, the data-parallel reducer, mixed precision, the schedule and the batch
  // pipeline for `setup`; under data parallelism every rank starts from rank 0's weights.
  // Throws ConfigError for a train set or batch size the world cannot split.
  Engine(RunSetup setup, std::string run_dir, const RunOptions& options);
  Engine(const Engine&) = delete;  // the batch pipeline refers to the setup's normalizer
  Engine& operator=(const Engine&) = delete;

  // Restores a checkpoint's state (after RunSetup built the same model); `source` names it in errors.
  void restore(const io::Checkpoint& ck, const std::string& source);
  // The run: epochs until config.epochs, each trained step by step, then evaluated, reported
  // and checkpointed. Continues from the restored counters (resume).
  RunResult run();

 private:
  using Clock = std::chrono::steady_clock;
  struct Batch;
  struct Forward;

  // ---- Epochs ----
  void train_epoch(int64_t epoch);
  torch::Tensor begin_epoch(int64_t epoch);
  void start_loader(int64_t epoch, const torch::Tensor& perm);
  void end_epoch(int64_t epoch);
  EpochMetrics epoch_metrics(int64_t epoch, bool do_eval);
  void evaluate_into(EpochMetrics& m);
  EvalResult evaluate_split(const data::SplitData& split, const EvalOptions& eo);
  void report_epoch(const EpochMetrics& m);
  void keep_if_best(const EpochMetrics& m, bool evaluated);
  void close_epoch(int64_t epoch);
  void zero_running_sums();

  // ---- Steps ----
  void train_step(int64_t epoch, int64_t step, const torch::Tensor& perm);
  Batch next_batch(int64_t step, const torch::Tensor& perm);
  bool too_few_images(int64_t taken);
  void count_skipped_step(int64_t epoch, int64_t step, int64_t taken);
  void note_eval_skipped(const std::string& split, const std::string& file, const std::string& message);
  double learning_rate();
  void augment(Batch& batch);
  Forward forward_backward(const Batch& batch, int64_t epoch, int64_t step, double lr);
  void agree_and_reduce(const torch::Tensor& loss, int64_t epoch, int64_t step, double lr);
  void update(double lr);
  void count(const torch::Tensor& logits, const torch::Tensor& labels, int64_t taken);
  void finish_step(int64_t epoch, int64_t step, int64_t images, const torch::Tensor& loss, double lr,
                   Clock::time_point t0);
  torch::Tensor training_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                              const torch::Tensor& targets) const;
  StepMetrics step_metrics(int64_t epoch, const torch::Tensor& loss, double lr);
  void check_divergence(const torch::Tensor& loss, int64_t epoch, int64_t step, double lr);
  bool check_every_step() const { return !s_.device.is_cuda(); }

  // ---- Checkpoints ----
  io::Checkpoint make_checkpoint();
  io::Checkpoint make_checkpoint_of_this_rank();
  RankState rank_state() const;
  void set_rank_state(const RankState& state);
  void restore_rank_state(const io::Checkpoint& ck, const std::string& source);
  void save_last();
  void save_mid_epoch();
  void maybe_checkpoint(int64_t step);
  bool checkpoint_time_due() const;
  void keep_previous() const;
  std::string last_path() const { return last_checkpoint_path(run_dir_); }
  std::string best_path() const { return best_checkpoint_path(run_dir_); }

  // ---- Stops ----
  bool agreed(bool mine);
  bool stop_requested() const;
  [[noreturn]] void interrupted();
  [[noreturn]] void diverged(double value, int64_t epoch, int64_t step, double lr);

  // ---- Output ----
  void open_sinks();
  void remove_stale_temp_files() const;
  void say(const std::string& line) const;
  void announce() const;
  std::vector<std::string> recipe_extras() const;
  std::string epoch_notes();
  void write_figures() const;
  void note_skipped(int64_t index, const std::string& message);
  RunResult result() const;

  // ---- Helpers ----
  std::vector<torch::Tensor> model_buffers() const { return s_.model->buffers(); }
  std::vector<torch::Tensor> model_tensors() const;
  uint64_t rank_seed(uint64_t role) const;
  const data::SplitData& test_split() const;
  const data::SplitData& val_split() const;
  double epoch_elapsed() const;

  // On the CPU the loss is read every step (cheap there); on a GPU reading it forces a host
  // synchronization, so only every kDivergenceCheckInterval steps (and, for every epoch, its
  // mean loss at the end).
  static constexpr int64_t kDivergenceCheckInterval = 50;

  // The run.
  RunSetup s_;
  std::string run_dir_;
  RunOptions options_;
  bool writer_ = true;  // this process writes the run directory (rank 0)
  int64_t n_train_ = 0, batch_ = 0, steps_per_epoch_ = 0, test_batch_ = 0;
  // Optimization.
  FlatParameters flat_;
  std::unique_ptr<FlatOptimizer> optimizer_;
  std::unique_ptr<LrSchedule> schedule_;
  WeightAverage ema_;            // disabled without ema.decay
  MixedPrecisionWeights mixed_;  // disabled for fp32
  LossScaler scaler_;            // enabled for fp16 only
  // Data parallel (options_.communicator).
  std::unique_ptr<DataParallel> dp_;
  StepDecision step_decision_;            // the ranks' agreement at the last step
  data::SplitData test_part_, val_part_;  // this rank's share of the evaluation splits
  // Data.
  data::BatchPipeline pipeline_;
  at::Generator aug_gen_;
  std::unique_ptr<data::BatchLoader> loader_;  // streamed or per-sample-transformed training batches
  std::map<std::string, std::string> skipped_;
  std::map<std::string, std::string> eval_skipped_;  // file -> "split: error" (validation/test images left out)
  // Where the run is, and the partial epoch's sums.
  RunCounters counters_;
  torch::Tensor loss_sum_, correct_;
  int64_t seen_ = 0;
  Clock::time_point epoch_start_ = Clock::now(), last_save_ = Clock::now();
  double epoch_base_seconds_ = 0;
  double data_seconds_ = 0, train_seconds_ = 0;  // the running epoch's, resumed from the checkpoint
  // Output (open_sinks()).
  std::vector<EpochMetrics> history_;
  std::vector<std::unique_ptr<RunSink>> sinks_;
  Clock::time_point last_step_log_ = Clock::now();
  int64_t last_step_log_images_ = 0;
  std::FILE* out_ = nullptr;
};

}  // namespace wrn::train
