#include "wrn/train/engine.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>
#include <torch/nn/functional/loss.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>

#include "wrn/core/error.h"
#include "wrn/core/memory.h"
#include "wrn/optim/optimizer_factory.h"
#include "wrn/setup/data_setup.h"
#include "wrn/train/engine_detail.h"
#include "wrn/train/stop_signals.h"

namespace fs = std::filesystem;

namespace wrn::train {
namespace {

using detail::mix_seed;
using detail::seconds_since;

}  // namespace

// A training batch: this rank's rows of the global batch of `len` images.
struct Engine::Batch {
  torch::Tensor images;   // uint8 from the data; the model's input after augment()
  torch::Tensor labels;   // int64 [taken]
  torch::Tensor targets;  // soft targets of a mixed batch; else undefined
  int64_t taken = 0;      // images this rank got (fewer than asked when files were skipped)
  int64_t len = 0;        // the global batch's size
};

struct Engine::Forward {
  torch::Tensor logits, loss;
};

// ---------------------------------------------------------------------------------------
// Construction

Engine::Engine(RunSetup setup, std::string run_dir, const RunOptions& options)
    : s_(std::move(setup)), run_dir_(std::move(run_dir)), options_(options) {
  const auto& c = s_.config;
  flat_ = FlatParameters(*s_.model);
  optimizer_ = make_optimizer(flat_, c.optimizer);
  if (options_.communicator) {
    dp_ = std::make_unique<DataParallel>(options_.communicator, flat_.grads(), c.distributed.bucket_mb);
    dist::check_same_on_all_ranks(dp_->comm(), config_to_string(c), "the configuration");
  }
  writer_ = !dp_ || dp_->rank() == 0;
  const int64_t ranks = dp_ ? dp_->size() : 1;
  if (c.precision != Precision::Fp32) mixed_ = MixedPrecisionWeights(*s_.model, flat_, compute_dtype(c.precision));
  if (dp_ && c.distributed.overlap) dp_->overlap_with_backward(flat_, mixed_);
  if (c.precision == Precision::Fp16) scaler_ = LossScaler(LossScalerOptions{});
  n_train_ = s_.train.size();
  WRN_CHECK(n_train_ >= 2 * ranks, "the train set has {} images; training on {} rank(s) needs at least {}", n_train_,
            ranks, 2 * ranks);
  WRN_CHECK(c.data.batch_size % ranks == 0,
            "data.batch_size {} (the global batch) does not split evenly over {} ranks: use a multiple of {}",
            c.data.batch_size, ranks, ranks);
  WRN_CHECK(c.data.batch_size >= 2 * ranks,
            "data.batch_size {} (the global batch) leaves a rank fewer than 2 images on {} ranks; batch norm needs 2: "
            "use at least {}", c.data.batch_size, ranks, 2 * ranks);
  batch_ = std::min<int64_t>(c.data.batch_size, n_train_);
  steps_per_epoch_ = (n_train_ + batch_ - 1) / batch_;
  // A last batch that leaves a rank fewer than 2 images would break BatchNorm in training
  // mode: drop it (one process: a last batch of one image).
  if (n_train_ - (steps_per_epoch_ - 1) * batch_ < 2 * ranks) --steps_per_epoch_;
  schedule_ = std::make_unique<LrSchedule>(c.schedule, c.optimizer.lr, steps_per_epoch_, c.epochs);
  test_batch_ = c.data.test_batch_size > 0 ? c.data.test_batch_size : 2 * c.data.batch_size;
  const auto& spec = s_.preprocessing;
  data::BatchPipeline::Options po;
  po.augment = c.data.augment;
  po.train_transform = spec.train;
  po.mix = c.mix;
  po.classes = s_.model->num_classes();
  po.label_smoothing = c.loss.label_smoothing;
  pipeline_ = data::BatchPipeline(po, s_.normalizer);
  for (const auto& [file, message] : s_.train.skipped) skipped_.emplace(file, message);
  // Streamed, or per-sample transforms: batches come from the loader's workers.
  if (s_.train.streamed() || spec.train == data::TrainTransform::RandomResizedCrop) {
    auto lo = loader_options(c);
    lo.pin_memory = s_.device.is_cuda();
    const auto* train = &s_.train;
    const uint64_t seed = c.seed;
    loader_ = std::make_unique<data::BatchLoader>(
        [train, seed, spec](int64_t index, int64_t epoch) { return train->train_sample(index, epoch, seed, spec); },
        std::vector<int64_t>{spec.channels, spec.height, spec.width}, lo);
  }
  aug_gen_ = at::make_generator<at::CPUGeneratorImpl>(c.seed);
  if (dp_) {
    // Rank 0 draws what a single process draws; the others their own augmentation and dropout.
    if (dp_->rank() > 0) torch::manual_seed(rank_seed(2));
    // Every rank starts from rank 0's weights and buffers (init_from files could differ).
    dp_->broadcast(model_tensors());
    if (dp_->size() > 1) {
      test_part_ = s_.test.subset(dp_->shard_indices(s_.test.size()));
      if (s_.val.size() > 0) val_part_ = s_.val.subset(dp_->shard_indices(s_.val.size()));
    }
  }
  // After the broadcast: every rank averages rank 0's starting weights.
  if (c.ema.enabled()) ema_ = WeightAverage(flat_.params(), model_buffers(), c.ema);
  auto dopts = torch::TensorOptions().device(s_.device);
  loss_sum_ = torch::zeros({}, dopts.dtype(torch::kDouble));
  correct_ = torch::zeros({}, dopts.dtype(torch::kLong));
  seen_ = 0;
  if (writer_) fs::create_directories(fs::path(run_dir_) / "checkpoints");
}

// ---------------------------------------------------------------------------------------
// The run and its epochs

RunResult Engine::run() {
  open_sinks();
  announce();
  last_save_ = Clock::now();
  if (agreed(writer_ && !fs::exists(last_path()))) save_last();  // resume always has a starting point
  mixed_.use_compute();  // from here the reduced parameters run on their compute copy
  s_.model->train();
  std::optional<StopSignalGuard> signals;
  if (options_.stop_on_signals) signals.emplace();
  while (counters_.epochs_done < s_.config.epochs) {
    const int64_t epoch = counters_.epochs_done;  // 0-based index of the running epoch
    train_epoch(epoch);
    end_epoch(epoch);  // ends with last.ckpt at the epoch boundary
    if (agreed(StopSignalGuard::received() != 0) && counters_.epochs_done < s_.config.epochs) interrupted();
  }
  return result();
}

// Epoch `epoch` from counters_.step_in_epoch (0, or where the checkpoint left it) to its end.
void Engine::train_epoch(int64_t epoch) {
  const auto perm = begin_epoch(epoch);
  for (int64_t step = counters_.step_in_epoch; step < steps_per_epoch_; ++step) {
    train_step(epoch, step, perm);
    maybe_checkpoint(step);
    if (stop_requested() && step + 1 < steps_per_epoch_) {  // the last step: at the epoch's end
      save_mid_epoch();
      interrupted();
    }
  }
}

// Timers, the augmentation seed and the running sums (kept when resuming inside the epoch);
// returns the epoch's data order.
torch::Tensor Engine::begin_epoch(int64_t epoch) {
  const auto& c = s_.config;
  const bool resumed = counters_.step_in_epoch > 0;
  epoch_start_ = Clock::now();
  epoch_base_seconds_ = resumed ? counters_.epoch_seconds : 0.0;
  data_seconds_ = resumed ? counters_.data_seconds : 0.0;
  train_seconds_ = resumed ? counters_.train_seconds : 0.0;
  if (!resumed) {
    const uint64_t aug_seed = dp_ && dp_->rank() > 0 ? rank_seed(1) : c.seed;
    aug_gen_.set_current_seed(mix_seed(aug_seed, static_cast<uint64_t>(epoch), 1));
    zero_running_sums();
  }
  auto order_gen = at::make_generator<at::CPUGeneratorImpl>(mix_seed(c.seed, static_cast<uint64_t>(epoch), 0));
  auto perm = torch::randperm(n_train_, order_gen, torch::TensorOptions().dtype(torch::kLong));
  if (loader_) start_loader(epoch, perm);
  perm = perm.to(s_.device);
  for (auto& sink : sinks_) sink->on_epoch_start(static_cast<int>(epoch + 1), counters_.step_in_epoch);
  return perm;
}

// The streaming loader's order for the epoch, from step counters_.step_in_epoch.
void Engine::start_loader(int64_t epoch, const torch::Tensor& perm) {
  if (dp_) {
    // This rank's rows of each global batch, in step order: the loader cuts them into this
    // rank's batches (only the last global batch is short).
    std::vector<int64_t> order;
    for (int64_t step = 0; step < steps_per_epoch_; ++step) {
      auto rows = dp_->shard(perm.narrow(0, step * batch_, std::min(batch_, n_train_ - step * batch_))).contiguous();
      order.insert(order.end(), rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + rows.numel());
    }
    loader_->start(epoch, std::move(order), dp_->shard_size(batch_), counters_.step_in_epoch);
  } else {
    loader_->start(epoch, std::vector<int64_t>(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + n_train_), batch_,
                   counters_.step_in_epoch, /*drop_last_if_one=*/true);
  }
}

// End of the epoch: train numbers, test numbers, the sinks, checkpoints and figures.
void Engine::end_epoch(int64_t epoch) {
  const bool do_eval = (epoch + 1) % s_.config.eval_every == 0 || epoch + 1 == s_.config.epochs;
  const auto m = epoch_metrics(epoch, do_eval);
  report_epoch(m);
  close_epoch(epoch);
  keep_if_best(m, do_eval);
  save_last();
  if (writer_) write_figures();
}

EpochMetrics Engine::epoch_metrics(int64_t epoch, bool do_eval) {
  std::vector<double> train_sums{loss_sum_.item<double>(), static_cast<double>(correct_.item<int64_t>()),
                                 static_cast<double>(seen_)};
  if (dp_) train_sums = dp_->sum(train_sums);  // every rank's images (counts exact below 2^53)
  const double train_loss = train_sums[0] / train_sums[2];
  if (!std::isfinite(train_loss)) diverged(train_loss, epoch, steps_per_epoch_ - 1, counters_.last_lr);
  EpochMetrics m;
  m.epoch = static_cast<int>(epoch + 1);
  m.lr = counters_.last_lr;
  m.train_loss = train_loss;
  m.train_top1_err = 100.0 * (1.0 - train_sums[1] / train_sums[2]);
  m.test_loss = m.test_top1_err = m.test_top5_err = std::nan("");
  if (do_eval) evaluate_into(m);
  m.seconds = epoch_elapsed();
  m.images_per_second = train_sums[2] / std::max(train_seconds_, 1e-9);
  return m;
}

// The validation (when held out) and test numbers of the model, or of its weight average.
void Engine::evaluate_into(EpochMetrics& m) {
  EvalOptions eo;
  eo.batch_size = test_batch_;
  eo.channels_last = s_.config.uses_channels_last();
  eo.input_dtype = mixed_.dtype();
  eo.loader = loader_options(s_.config);
  eo.tta_flip = s_.config.eval_tta;
  if (dp_) dp_->broadcast(model_buffers());  // every rank evaluates rank 0's model
  // With a weight average, it is what is evaluated (and what checkpoints export).
  std::optional<AverageScope> average;
  if (ema_.enabled()) {
    average.emplace(ema_);
    mixed_.refresh();
    if (dp_) dp_->broadcast(model_buffers());  // rank 0's averaged BatchNorm statistics
  }
  if (s_.val.size() > 0) {
    auto v = evaluate_split(val_split(), eo);
    m.val_loss = v.loss;
    m.val_top1_err = v.top1_err;
  }
  auto r = evaluate_split(test_split(), eo);
  m.test_loss = r.loss;
  m.test_top1_err = r.top1_err;
  m.test_top5_err = r.top5_err;
  if (average) {
    average.reset();
    mixed_.refresh();
  }
}

// One split (this rank's share under data parallelism, the sums then added over the ranks).
EvalResult Engine::evaluate_split(const data::SplitData& split, const EvalOptions& eo) {
  auto r = evaluate(*s_.model, split, s_.preprocessing, s_.normalizer, eo);
  const char* which = &split == &test_split() ? "test" : "validation";
  for (const auto& [file, message] : r.skipped) note_eval_skipped(which, file, message);
  if (!dp_ || dp_->size() == 1) return r;
  const auto t = dp_->sum({r.loss_sum, static_cast<double>(r.correct1), static_cast<double>(r.correct5),
                           static_cast<double>(r.images)});
  r.loss_sum = t[0];
  r.correct1 = static_cast<int64_t>(t[1]);
  r.correct5 = static_cast<int64_t>(t[2]);
  r.images = static_cast<int64_t>(t[3]);
  const double n = std::max<double>(t[3], 1);
  r.loss = r.loss_sum / n;
  r.top1_err = 100.0 * (1.0 - t[1] / n);
  r.top5_err = 100.0 * (1.0 - t[2] / n);
  return r;
}

// The sinks (progress line, metrics.jsonl, TensorBoard) and the in-memory history.
void Engine::report_epoch(const EpochMetrics& m) {
  const auto notes = epoch_notes();
  for (auto& sink : sinks_) sink->on_epoch(m, notes);
  history_.push_back(m);
}

// best.ckpt when the epoch is the best so far: on validation when held out, else on test.
void Engine::keep_if_best(const EpochMetrics& m, bool evaluated) {
  const double chooser = s_.val.size() > 0 ? m.val_top1_err : m.test_top1_err;
  if (!evaluated || !(chooser < counters_.best_choice_error)) return;
  counters_.best_choice_error = chooser;
  counters_.best_test_error = m.test_top1_err;
  counters_.best_val_error = m.val_top1_err;
  counters_.best_epoch = m.epoch;
  if (s_.config.checkpoint.keep_best) {
    auto ck = make_checkpoint();  // a collective under data parallelism: every rank calls it
    if (writer_) io::save_checkpoint(best_path(), ck);
  }
}

// Counters and running sums at the start of the next epoch.
void Engine::close_epoch(int64_t epoch) {
  counters_.epochs_done = epoch + 1;
  counters_.step_in_epoch = 0;
  counters_.data_seconds = counters_.train_seconds = 0;
  epoch_base_seconds_ = 0;
  epoch_start_ = Clock::now();
  zero_running_sums();
}

void Engine::zero_running_sums() {
  torch::NoGradGuard no_grad;
  loss_sum_.zero_();
  correct_.zero_();
  seen_ = 0;
}

// ---------------------------------------------------------------------------------------
// One step

// One optimizer step on batch `step` of the epoch's order `perm`.
void Engine::train_step(int64_t epoch, int64_t step, const torch::Tensor& perm) {
  const auto t0 = Clock::now();
  auto batch = next_batch(step, perm);
  if (too_few_images(batch.taken)) return count_skipped_step(epoch, step, batch.taken);
  augment(batch);
  data_seconds_ += seconds_since(t0);
  const double lr = learning_rate();
  const auto f = forward_backward(batch, epoch, step, lr);
  if (dp_) agree_and_reduce(f.loss, epoch, step, lr);
  update(lr);
  count(f.logits, batch.labels, batch.taken);
  finish_step(epoch, step, dp_ ? batch.len : batch.taken, f.loss, lr, t0);
}

// This rank's rows of batch `step`: from the loader (streamed or per-sample transforms), else
// from the split in memory.
Engine::Batch Engine::next_batch(int64_t step, const torch::Tensor& perm) {
  Batch b;
  const int64_t begin = step * batch_;
  b.len = std::min(batch_, n_train_ - begin);
  if (loader_) {
    auto lb = loader_->next();
    for (const auto& [index, message] : lb.skipped) note_skipped(index, message);
    b.images = lb.images.to(s_.device, /*non_blocking=*/true);
    b.labels = s_.train.labels.index_select(0, lb.indices).to(s_.device, /*non_blocking=*/true);
  } else {
    auto idx = perm.narrow(0, begin, b.len);
    if (dp_) idx = dp_->shard(idx);
    b.images = s_.train.memory.images.index_select(0, idx);
    b.labels = s_.train.memory.labels.index_select(0, idx);
  }
  b.taken = b.labels.size(0);
  return b;
}

// Skipped files left fewer images than BatchNorm needs (on any rank under data parallelism).
bool Engine::too_few_images(int64_t taken) {
  return dp_ && s_.config.data.on_bad_image == OnBadImage::Skip ? agreed(taken < 2) : taken < 2;
}

// No update for such a batch, but the step still counts.
void Engine::count_skipped_step(int64_t epoch, int64_t step, int64_t taken) {
  ++counters_.global_step;
  counters_.step_in_epoch = step + 1;
  StepEvent e;
  e.epoch = static_cast<int>(epoch + 1);
  e.images = taken;
  for (auto& sink : sinks_) sink->on_step(e);
}

// The batch pipeline (augmentation, normalization, mixing), then the model's layout and dtype.
void Engine::augment(Batch& b) {
  auto out = pipeline_({b.images, b.labels, {}}, aug_gen_);
  b.images = batch_in_layout(out.images, s_.config.uses_channels_last()).to(mixed_.dtype());
  b.targets = out.targets;
}

// The schedule's rate for this step; the optimizer's momentum restarts at a new phase when asked.
double Engine::learning_rate() {
  const double lr = schedule_->lr(counters_.global_step);
  const int phase = schedule_->phase(counters_.global_step);
  if (phase != counters_.phase) {
    if (s_.config.optimizer.reset_momentum_on_drop) optimizer_->reset_momentum();
    counters_.phase = phase;
  }
  return lr;
}

// Zeroed gradients, the forward (BatchNorm synchronized when asked), the fp32 loss and its
// backward pass into the flat gradient buffer (fp32 master gradients under mixed precision).
Engine::Forward Engine::forward_backward(const Batch& b, int64_t epoch, int64_t step, double lr) {
  Forward f;
  flat_.zero_grad();
  mixed_.zero_grad();
  if (dp_) dp_->begin_step();  // overlapped: the backward pass starts the allreduces
  {
    models::BatchNormSyncScope sync(dp_ && s_.config.model.sync_bn ? dp_->cross_replica_sum() : nullptr);
    f.logits = s_.model->forward(b.images);
  }
  f.loss = training_loss(f.logits.to(torch::kFloat), b.labels, b.targets);  // fp32 softmax and loss
  if (!dp_) check_divergence(f.loss, epoch, step, lr);
  // Weighted so that the ranks' average is the global batch's mean-loss gradient.
  const auto objective =
      dp_ && dp_->size() > 1 ? f.loss * (static_cast<double>(b.taken) * dp_->size() / static_cast<double>(b.len)) : f.loss;
  scaler_.scale_loss(objective).backward();
  if (!dp_ || !dp_->overlapped()) mixed_.gradients_to_master();  // else each parameter's hook did
  return f;
}

// Data parallel: the ranks' agreement (stop, divergence, checkpoint time), then the gradients
// averaged over the ranks. The agreement first: it also waits for the slowest rank, so the
// reduction's time that follows is the communication alone (the epoch line's "allreduce ms/step"),
// and of it only what the backward pass did not hide when the reduction overlaps it.
void Engine::agree_and_reduce(const torch::Tensor& loss, int64_t epoch, int64_t step, double lr) {
  StepDecision mine;
  mine.stop = StopSignalGuard::received() != 0;
  const double v = loss.item<double>();
  mine.diverged = !std::isfinite(v);
  mine.checkpoint = checkpoint_time_due();
  step_decision_ = dp_->agree(mine);
  if (step_decision_.diverged) diverged(std::isfinite(v) ? std::nan("") : v, epoch, step, lr);
  dp_->reduce_gradients();
}

// Unscaling (fp16: an overflowed step is skipped), clipping, the optimizer step, the compute
// copy of reduced-precision weights, the weight average.
void Engine::update(double lr) {
  auto grads = flat_.grads();
  if (!scaler_.unscale_and_update(grads)) return;
  if (s_.config.optimizer.clip_grad_norm > 0) clip_grad_norm(grads, s_.config.optimizer.clip_grad_norm);
  optimizer_->step(lr);
  mixed_.refresh();
  ema_.update();
}

// The epoch's running train loss and error.
void Engine::count(const torch::Tensor& logits, const torch::Tensor& labels, int64_t taken) {
  torch::NoGradGuard no_grad;
  auto st = batch_stats(logits, labels);
  loss_sum_ += st.loss_sum;
  correct_ += st.correct1;
  seen_ += taken;
}

// Counters, the step's time, and the sinks (`images`: the whole world's under data parallelism).
void Engine::finish_step(int64_t epoch, int64_t step, int64_t images, const torch::Tensor& loss, double lr,
                         Clock::time_point t0) {
  ++counters_.global_step;
  counters_.step_in_epoch = step + 1;
  counters_.last_lr = lr;
  // CUDA: the host runs ahead of the device; wait for the epoch's queued work before its last
  // step is timed, so that images/s counts the device's time.
  if (s_.device.is_cuda() && step + 1 == steps_per_epoch_) torch::cuda::synchronize();
  train_seconds_ += seconds_since(t0);
  std::optional<StepMetrics> logged;
  const int64_t every = s_.config.log_every_steps;
  if (every > 0 && counters_.global_step % every == 0 && writer_) logged = step_metrics(epoch, loss, lr);
  if (sinks_.empty()) return;
  StepEvent e;
  e.epoch = static_cast<int>(epoch + 1);
  e.images = images;
  if (check_every_step() && out_) e.loss = loss.item<double>();  // for the progress bar only
  e.logged = logged ? &*logged : nullptr;
  for (auto& sink : sinks_) sink->on_step(e);
}

// Cross-entropy; against smoothed labels (loss.label_smoothing) or mixed soft targets.
torch::Tensor Engine::training_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                                    const torch::Tensor& targets) const {
  namespace F = torch::nn::functional;
  if (targets.defined()) return data::soft_target_cross_entropy(logits, targets);
  const double s = s_.config.loss.label_smoothing;
  if (s > 0) return F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().label_smoothing(s));
  return F::cross_entropy(logits, labels);
}

// One steps.jsonl line's numbers (log_every_steps): loss, lr and the images/s since the last.
StepMetrics Engine::step_metrics(int64_t epoch, const torch::Tensor& loss, double lr) {
  const auto now = Clock::now();
  const int64_t images = counters_.global_step * batch_;
  StepMetrics m;
  m.step = counters_.global_step;
  m.epoch = static_cast<int>(epoch + 1);
  m.loss = loss.item<double>();
  m.lr = lr;
  const double dt = std::chrono::duration<double>(now - last_step_log_).count();
  m.images_per_second = last_step_log_images_ > 0 && dt > 0 ? (images - last_step_log_images_) / dt : std::nan("");
  last_step_log_ = now;
  last_step_log_images_ = images;
  return m;
}

// Throws TrainingDiverged when the step's loss (read when due) is not finite.
void Engine::check_divergence(const torch::Tensor& loss, int64_t epoch, int64_t step, double lr) {
  if (check_every_step() || (counters_.global_step + 1) % kDivergenceCheckInterval == 0) {
    const double v = loss.item<double>();
    if (!std::isfinite(v)) diverged(v, epoch, step, lr);
  }
}

// ---------------------------------------------------------------------------------------
// Helpers

std::vector<torch::Tensor> Engine::model_tensors() const {
  auto t = s_.model->parameters();
  for (auto& b : s_.model->buffers()) t.push_back(b);
  return t;
}

// Seeds of rank r's own streams (role 1: augmentation, 2: dropout); rank 0 never uses them.
uint64_t Engine::rank_seed(uint64_t role) const {
  return mix_seed(s_.config.seed, static_cast<uint64_t>(dp_ ? dp_->rank() : 0), role + 1);
}

const data::SplitData& Engine::test_split() const { return dp_ && dp_->size() > 1 ? test_part_ : s_.test; }
const data::SplitData& Engine::val_split() const { return dp_ && dp_->size() > 1 ? val_part_ : s_.val; }

double Engine::epoch_elapsed() const { return epoch_base_seconds_ + seconds_since(epoch_start_); }

}  // namespace wrn::train
