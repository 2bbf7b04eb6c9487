#include "wrn/train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/nn/functional/loss.h>
#include <torch/serialize.h>

#include <csignal>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/core/memory.h"
#include "wrn/core/text.h"
#include "wrn/core/threads.h"
#include "wrn/io/weights_file.h"
#include "wrn/models/summary.h"
#include "wrn/models/test_time_flip.h"
#include "wrn/train/curves_plot.h"
#include "wrn/train/data_parallel.h"
#include "wrn/train/adamw.h"
#include "wrn/train/data_setup.h"
#include "wrn/data/regularize.h"
#include "wrn/train/loss_scaler.h"
#include "wrn/train/mixed_precision.h"
#include "wrn/train/progress.h"
#include "wrn/train/report.h"
#include "wrn/train/run_lock.h"
#include "wrn/train/stop_signals.h"
#include "wrn/train/tensorboard.h"

namespace fs = std::filesystem;

namespace wrn::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// SplitMix64: independent-looking seeds for (seed, epoch, role).
uint64_t mix_seed(uint64_t seed, uint64_t epoch, uint64_t role) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (epoch * 4 + role + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

torch::Tensor to_input(const torch::Tensor& x, bool channels_last) {
  return channels_last ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
}

std::string device_text(const torch::Device& d, int threads) {
  return d.is_cuda() ? fmt::format("CUDA ({})", d.str()) : fmt::format("CPU, {} threads", threads);
}

}  // namespace

torch::Device parse_device(const std::string& text) {
  if (text == "cpu") return torch::Device(torch::kCPU);
  if (text == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  WRN_CHECK(text == "cuda" || text.rfind("cuda:", 0) == 0, "device '{}': expected cpu, cuda or cuda:N", text);
  WRN_CHECK(torch::cuda::is_available(), "device '{}' asked for, but CUDA is not available in this build/machine",
            text);
  return text == "cuda" ? torch::Device(torch::kCUDA, 0) : torch::Device(text);
}

BatchStats batch_stats(const torch::Tensor& logits, const torch::Tensor& labels) {
  namespace F = torch::nn::functional;
  BatchStats s;
  const auto scores = logits.detach().to(torch::kFloat);  // bf16 logits: the loss and ranking in fp32
  s.loss_sum = F::cross_entropy(scores, labels, F::CrossEntropyFuncOptions().reduction(torch::kSum))
                   .to(torch::kDouble);
  const int64_t k = std::min<int64_t>(5, scores.size(1));
  auto top = std::get<1>(scores.topk(k, 1));
  auto hits = top.eq(labels.view({-1, 1}));
  s.correct1 = hits.select(1, 0).sum();
  s.correct5 = hits.any(1).sum();
  return s;
}

EvalResult evaluate(models::ClassifierImpl& model, const data::Dataset& d, const data::Normalizer& normalizer,
                    const EvalOptions& options) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  auto r = evaluate([&](const torch::Tensor& x) { return model.forward(x); }, model.num_classes(), d, normalizer,
                    options);
  if (was_training) model.train();
  return r;
}

namespace {

// Fills `images` (uint8), `labels` and `indices` (the rows' sample indices, int64 CPU) with
// the next batch; false at the end.
using NextBatch = std::function<bool(torch::Tensor& images, torch::Tensor& labels, torch::Tensor& indices)>;

// `n`: the split's size (predictions of samples never returned, e.g. skipped files, are -1).
EvalResult evaluate_batches(const ForwardFn& forward, int64_t classes, int64_t n, const torch::Device& device,
                            const NextBatch& next, const data::Normalizer& normalizer, const EvalOptions& options) {
  torch::NoGradGuard no_grad;
  auto opts = torch::TensorOptions().device(device);
  auto loss = torch::zeros({}, opts.dtype(torch::kDouble));
  auto c1 = torch::zeros({}, opts.dtype(torch::kLong)), c5 = torch::zeros({}, opts.dtype(torch::kLong));
  torch::Tensor confusion, predictions;
  if (options.with_confusion) confusion = torch::zeros({classes * classes}, opts.dtype(torch::kLong));
  auto predicted = torch::full({n}, -1, torch::kLong);
  int64_t seen = 0;
  torch::Tensor images, y, indices;
  while (next(images, y, indices)) {
    auto x = to_input(normalizer(images.to(device)), options.channels_last).to(options.input_dtype);
    y = y.to(device);
    auto logits = forward(x).to(torch::kFloat);
    if (options.tta_flip) {  // log of the mean probability (batch_stats' log_softmax leaves it as it is)
      logits = models::flip_averaged_log_probabilities(logits, forward(x.flip(3)).to(torch::kFloat));
    }
    auto s = batch_stats(logits, y);
    loss += s.loss_sum;
    c1 += s.correct1;
    c5 += s.correct5;
    seen += y.size(0);
    if (options.with_confusion || options.with_predictions) {
      auto top1 = logits.argmax(1);
      if (options.with_confusion) confusion.index_add_(0, y * classes + top1, torch::ones_like(y));
      if (options.with_predictions) predicted.index_copy_(0, indices, top1.cpu());
    }
  }
  EvalResult r;
  r.images = seen;
  r.loss_sum = loss.item<double>();
  r.correct1 = c1.item<int64_t>();
  r.correct5 = c5.item<int64_t>();
  const double dn = std::max<int64_t>(seen, 1);
  r.loss = r.loss_sum / dn;
  r.top1_err = 100.0 * (1.0 - static_cast<double>(r.correct1) / dn);
  r.top5_err = 100.0 * (1.0 - static_cast<double>(r.correct5) / dn);
  if (options.with_confusion) {
    auto cm = confusion.cpu().view({classes, classes});
    auto acc = cm.accessor<int64_t, 2>();
    for (int64_t t = 0; t < classes; ++t) {
      std::vector<int64_t> row(static_cast<size_t>(classes));
      int64_t total = 0;
      for (int64_t p = 0; p < classes; ++p) total += row[p] = acc[t][p];
      r.confusion.push_back(row);
      r.per_class_accuracy.push_back(total ? 100.0 * acc[t][t] / total : std::nan(""));
    }
  }
  if (options.with_predictions) r.predictions.assign(predicted.data_ptr<int64_t>(), predicted.data_ptr<int64_t>() + n);
  return r;
}

}  // namespace

EvalResult evaluate(const ForwardFn& forward, int64_t classes, const data::Dataset& d,
                    const data::Normalizer& normalizer, const EvalOptions& options) {
  const int64_t n = d.size(), batch_size = options.batch_size;
  WRN_CHECK(batch_size > 0, "evaluation batch size must be positive, got {}", batch_size);
  int64_t start = 0;
  auto next = [&](torch::Tensor& images, torch::Tensor& labels, torch::Tensor& indices) {
    if (start >= n) return false;
    const int64_t len = std::min(batch_size, n - start);
    images = d.images.narrow(0, start, len);
    labels = d.labels.narrow(0, start, len);
    indices = torch::arange(start, start + len, torch::kLong);
    start += len;
    return true;
  };
  return evaluate_batches(forward, classes, n, d.images.device(), next, normalizer, options);
}

EvalResult evaluate(const ForwardFn& forward, int64_t classes, const data::SplitData& split,
                    const data::Preprocessing& spec, const data::Normalizer& normalizer, const EvalOptions& options) {
  if (!split.streamed()) return evaluate(forward, classes, split.memory, normalizer, options);
  WRN_CHECK(options.batch_size > 0, "evaluation batch size must be positive, got {}", options.batch_size);
  // Streamed: decoded by the evaluation transform on the loader's threads, in file order.
  auto loader = split.eval_loader(spec, options.loader, options.batch_size);
  auto next = [&](torch::Tensor& images, torch::Tensor& labels, torch::Tensor& indices) {
    if (!loader->has_next()) return false;
    auto b = loader->next();
    images = b.images;
    indices = b.indices;
    labels = split.labels.index_select(0, b.indices);
    return true;
  };
  return evaluate_batches(forward, classes, split.size(), normalizer.device(), next, normalizer, options);
}

EvalResult evaluate(models::ClassifierImpl& model, const data::SplitData& split, const data::Preprocessing& spec,
                    const data::Normalizer& normalizer, const EvalOptions& options) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  auto r = evaluate([&](const torch::Tensor& x) { return model.forward(x); }, model.num_classes(), split, spec,
                    normalizer, options);
  if (was_training) model.train();
  return r;
}

std::string last_checkpoint_path(const std::string& run_dir) {
  return (fs::path(run_dir) / "checkpoints" / "last.ckpt").string();
}

std::string previous_checkpoint_path(const std::string& run_dir) {
  return (fs::path(run_dir) / "checkpoints" / "previous.ckpt").string();
}

std::string best_checkpoint_path(const std::string& run_dir) {
  return (fs::path(run_dir) / "checkpoints" / "best.ckpt").string();
}

namespace {

// model.input and the data's image options describe one shape: the one given sets the other.
TrainConfig with_input_agreed(TrainConfig c) {
  if (c.model.input.empty()) return c;
  const auto input = models::InputShape::parse(c.model.input, "model.input");
  if (c.data.channels == 0) c.data.channels = input.channels;
  if (c.data.image_size.empty()) c.data.image_size = fmt::format("{}x{}", input.height, input.width);
  const auto [h, w] = data::parse_image_size(c.data.image_size, "data.image_size");
  WRN_CHECK(input.channels == c.data.channels && input.height == h && input.width == w,
            "config: 'model.input' {} does not match the data's {}x{}x{} (data.channels, data.image_size); "
            "set one of them", c.model.input, c.data.channels, h, w);
  return c;
}

// The normalizer of a streamed train split: fitted on a seeded sample of its images.
data::Normalizer fit_normalizer(const data::SplitData& train, const data::Preprocessing& spec, const TrainConfig& c) {
  if (!train.streamed()) return data::Normalizer::fit(train.memory, c.data.normalize);
  const auto& n = c.data.normalize;
  WRN_CHECK(!n.zca, "config: 'data.normalize.zca' needs the whole train set in memory (data.storage memory)");
  if (!n.mean.empty() && !n.std.empty()) return data::Normalizer::fit(data::decode_all(train.subset({0, 1}), spec, loader_options(c)).memory, n);
  constexpr int64_t kSample = 5000;
  std::vector<int64_t> pick;
  if (train.size() <= kSample) {
    for (int64_t i = 0; i < train.size(); ++i) pick.push_back(i);
  } else {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(c.seed ^ 0x6e6f726dULL);  // "norm"
    auto perm = torch::randperm(train.size(), gen, torch::kLong).narrow(0, 0, kSample);
    perm = std::get<0>(perm.sort()).contiguous();
    pick.assign(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + kSample);
  }
  return data::Normalizer::fit(data::decode_all(train.subset(pick), spec, loader_options(c)).memory, n);
}

std::string size_text(int64_t h, int64_t w) { return h == w ? std::to_string(h) : fmt::format("{}x{}", h, w); }

}  // namespace

RunSetup RunSetup::create(const TrainConfig& config, bool load_train,
                          const std::vector<torch::Tensor>* normalizer_state,
                          const std::vector<std::string>& class_names) {
  RunSetup s;
  s.config = with_input_agreed(config);
  s.device = parse_device(config.device);
  s.precision = resolve_precision(config.precision, s.device);
  s.config.precision = s.precision.value;
  auto run_data = load_run_data(s.config, load_train, class_names);
  s.preprocessing = run_data.spec;
  s.storage = run_data.storage_reason;
  // What the data resolved goes back into the config (config.yaml, checkpoints): eval, predict
  // and export read the same spec.
  s.config.data.image_size = size_text(s.preprocessing.height, s.preprocessing.width);
  s.config.data.channels = s.preprocessing.channels;
  s.config.data.eval_resize = s.preprocessing.eval_resize;
  if (normalizer_state) {
    s.normalizer.load_state(*normalizer_state);
  } else {
    WRN_CHECK(load_train, "the normalizer needs the train set or a saved state");
    s.normalizer = fit_normalizer(run_data.train, s.preprocessing, s.config);
  }
  s.preprocessing.mean = s.normalizer.mean();
  s.preprocessing.std = s.normalizer.std();
  s.preprocessing.zca = s.normalizer.has_zca();
  s.normalizer.to(s.device);
  const auto& ref = load_train ? run_data.train : run_data.test;
  models::ModelSpec spec;
  spec.name = config.model.name;
  spec.classes = config.model.classes > 0 ? config.model.classes : ref.num_classes();
  spec.input = {s.preprocessing.channels, s.preprocessing.height, s.preprocessing.width};
  spec.settings = config.model.settings;
  s.spec = models::resolve_spec(spec);
  WRN_CHECK(s.spec.classes >= ref.num_classes(), "model.classes is {}, but the data set '{}' has {} classes",
            s.spec.classes, config.data.kind, ref.num_classes());
  torch::manual_seed(config.seed);  // model initialization (and later dropout) draw from it
  s.model = models::build_model(s.spec);
  s.model->to(s.device);
  if (config.channels_last) {
    torch::NoGradGuard no_grad;
    for (auto& p : s.model->parameters())
      if (p.dim() == 4) p.set_data(to_channels_last(p));  // C == 1 too (see core/memory.h)
  }
  auto on_device = [&](data::SplitData split) {
    if (!split.streamed() && split.size() > 0) split.memory = split.memory.to(s.device);
    return split;
  };
  s.train = on_device(std::move(run_data.train));
  s.val = on_device(std::move(run_data.val));
  s.test = on_device(std::move(run_data.test));
  return s;
}

// ---------------------------------------------------------------------------------------
// The engine proper.

namespace {

struct Counters {
  int64_t epochs_done = 0;    // finished epochs
  int64_t step_in_epoch = 0;  // steps done in epoch epochs_done + 1
  int64_t global_step = 0;
  double best_test_error = std::numeric_limits<double>::infinity();
  int64_t best_epoch = 0;
  double epoch_seconds = 0;   // wall time spent in the current epoch before the checkpoint
  double data_seconds = 0;    // of which in the data pipeline
  double train_seconds = 0;   // of which in training steps (data included)
  int phase = 0;              // schedule phase of the last step
  double last_lr = 0;

  nlohmann::json to_json() const {
    return {{"epochs_done", epochs_done}, {"step_in_epoch", step_in_epoch}, {"global_step", global_step},
            {"best_test_error", std::isfinite(best_test_error) ? nlohmann::json(best_test_error) : nlohmann::json()},
            {"best_epoch", best_epoch}, {"epoch_seconds", epoch_seconds}, {"data_seconds", data_seconds},
            {"train_seconds", train_seconds}, {"phase", phase}, {"last_lr", last_lr}};
  }
  static Counters from_json(const nlohmann::json& j, const std::string& what) {
    Counters c;
    try {
      c.epochs_done = j.at("epochs_done");
      c.step_in_epoch = j.at("step_in_epoch");
      c.global_step = j.at("global_step");
      c.best_test_error = j.at("best_test_error").is_null() ? std::numeric_limits<double>::infinity()
                                                             : j.at("best_test_error").get<double>();
      c.best_epoch = j.at("best_epoch");
      c.epoch_seconds = j.at("epoch_seconds");
      c.data_seconds = j.at("data_seconds");
      c.train_seconds = j.at("train_seconds");
      c.phase = j.at("phase");
      c.last_lr = j.at("last_lr");
    } catch (const nlohmann::json::exception& e) {
      throw FileError(fmt::format("{}: bad bookkeeping record: {}", what, e.what()));
    }
    // A crafted or damaged record must not steer the engine (a negative step indexes before the epoch).
    WRN_CHECK_FILE(c.epochs_done >= 0 && c.step_in_epoch >= 0 && c.global_step >= 0 && c.best_epoch >= 0 &&
                       c.global_step >= c.step_in_epoch && c.phase >= 0 && std::isfinite(c.epoch_seconds) &&
                       std::isfinite(c.data_seconds) && std::isfinite(c.train_seconds) && std::isfinite(c.last_lr),
                   "{}: bad bookkeeping record (negative counts or non-finite times: epochs_done {}, step_in_epoch {}, "
                   "global_step {})",
                   what, c.epochs_done, c.step_in_epoch, c.global_step);
    return c;
  }
};

// The options beyond the 2016 papers' recipes that are on, for the start-up lines.
std::vector<std::string> recipe_extras(const TrainConfig& c) {
  std::vector<std::string> out;
  const auto& a = c.data.augment;
  if (c.optimizer.type == OptimizerType::AdamW)
    out.push_back(fmt::format("AdamW (betas {}, {}, eps {:g})", c.optimizer.betas.at(0), c.optimizer.betas.at(1),
                              c.optimizer.eps));
  if (c.optimizer.no_decay_bn_bias) out.push_back("no weight decay on BatchNorm and biases");
  if (c.optimizer.clip_grad_norm > 0) out.push_back(fmt::format("gradient norm clipped at {:g}", c.optimizer.clip_grad_norm));
  if (c.loss.label_smoothing > 0) out.push_back(fmt::format("label smoothing {:g}", c.loss.label_smoothing));
  if (a.policy.kind == data::AutoAugmentKind::TrivialAugmentWide) out.push_back("TrivialAugment-Wide");
  if (a.policy.kind == data::AutoAugmentKind::RandAugment)
    out.push_back(fmt::format("RandAugment ({} ops at magnitude {} of {})", a.policy.num_ops, a.policy.magnitude,
                              a.policy.num_magnitude_bins));
  if (a.cutout.size > 0) out.push_back(fmt::format("cutout {} x {}px", a.cutout.holes, a.cutout.size));
  if (a.erasing.p > 0) out.push_back(fmt::format("random erasing p {:g}", a.erasing.p));
  if (c.mix.mixup_alpha > 0) out.push_back(fmt::format("mixup alpha {:g}", c.mix.mixup_alpha));
  if (c.mix.cutmix_alpha > 0) out.push_back(fmt::format("cutmix alpha {:g}", c.mix.cutmix_alpha));
  if (c.mix.enabled() && c.mix.prob < 1) out.back() += fmt::format(" (batches mixed with p {:g})", c.mix.prob);
  if (c.eval_tta) out.push_back("test-time flip averaging in each epoch's evaluation");
  if (c.ema.enabled()) out.push_back(fmt::format("weight EMA {:g}{} (evaluated and exported)", c.ema.decay,
                                                 c.ema.warmup ? " with warm-up" : ""));
  return out;
}

// SGD or AdamW over the flat buffers, with the no-decay group when asked for.
std::unique_ptr<FlatOptimizer> make_optimizer(const FlatParameters& flat, const OptimizerConfig& o) {
  std::unique_ptr<FlatOptimizer> out;
  if (o.type == OptimizerType::AdamW) {
    AdamWOptions a;
    a.beta1 = o.betas.at(0);
    a.beta2 = o.betas.at(1);
    a.eps = o.eps;
    a.weight_decay = o.weight_decay;
    out = std::make_unique<AdamW>(flat, a);
  } else {
    out = std::make_unique<Sgd>(flat, static_cast<const SgdOptions&>(o));
  }
  if (o.no_decay_bn_bias) out->set_decay_mask(flat.decay_mask_without_vectors());
  return out;
}

class Engine {
 public:
  Engine(RunSetup setup, std::string run_dir, const RunOptions& options)
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
    if (c.precision == Precision::Fp16) scaler_ = LossScaler(LossScalerOptions{});
    n_train_ = s_.train.size();
    WRN_CHECK(n_train_ >= 2 * ranks, "the train set has {} images; training on {} rank(s) needs at least {}", n_train_,
              ranks, 2 * ranks);
    WRN_CHECK(c.data.batch_size % ranks == 0,
              "data.batch_size {} (the global batch) does not split evenly over {} ranks: use a multiple of {}",
              c.data.batch_size, ranks, ranks);
    batch_ = std::min<int64_t>(c.data.batch_size, n_train_);
    steps_per_epoch_ = (n_train_ + batch_ - 1) / batch_;
    // A last batch that leaves a rank fewer than 2 images would break BatchNorm in training
    // mode: drop it (one process: a last batch of one image).
    if (n_train_ - (steps_per_epoch_ - 1) * batch_ < 2 * ranks) --steps_per_epoch_;
    schedule_ = std::make_unique<LrSchedule>(c.schedule, c.optimizer.lr, steps_per_epoch_, c.epochs);
    test_batch_ = c.data.test_batch_size > 0 ? c.data.test_batch_size : 2 * c.data.batch_size;
    augment_ = c.data.augment;
    const auto& spec = s_.preprocessing;
    if (spec.train != data::TrainTransform::PadCrop) augment_.pad = 0;  // none: flip only
    if (spec.train == data::TrainTransform::RandomResizedCrop) augment_.flip = false;  // drawn per sample
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

  std::string last_path() const { return last_checkpoint_path(run_dir_); }
  std::string best_path() const { return best_checkpoint_path(run_dir_); }

  // Restores a checkpoint's state (after RunSetup built the same model); `source` names it in errors.
  void restore(const io::Checkpoint& ck, const std::string& source) {
    io::load_state_dict(*s_.model, ck.model, "checkpoint " + source);
    optimizer_->load_state(ck.optimizer);
    if (ema_.enabled()) {
      WRN_CHECK_FILE(!ck.ema.empty(), "checkpoint {} holds no weight average, but the run's config has ema.decay {}",
                     source, s_.config.ema.decay);
      AverageScope average(ema_);  // the model holds the average: load it there
      io::load_state_dict(*s_.model, ck.ema, "checkpoint " + source + " (ema)");
      const auto updates = io::find_tensor(ck.running, "ema_updates", source).item<int64_t>();
      WRN_CHECK_FILE(updates >= 0, "checkpoint {} has a negative ema_updates {}", source, updates);
      ema_.set_updates(updates);
    }
    counters_ = Counters::from_json(nlohmann::json::parse(ck.meta_json), source);
    aug_gen_.set_state(io::find_tensor(ck.rng, "augment", source));
    at::Generator(at::detail::getDefaultCPUGenerator()).set_state(io::find_tensor(ck.rng, "cpu_default", source));
    if (s_.device.is_cuda()) {
      at::Generator(at::globalContext().defaultGenerator(s_.device)).set_state(io::find_tensor(ck.rng, "device_default", source));
    }
    {
      torch::NoGradGuard no_grad;
      loss_sum_.copy_(io::find_tensor(ck.running, "loss_sum", source));
      correct_.copy_(io::find_tensor(ck.running, "correct", source));
      seen_ = io::find_tensor(ck.running, "seen", source).item<int64_t>();
    }
    scaler_.load_state(ck.running, source);
    if (dp_) restore_rank_state(ck, source);
    WRN_CHECK_FILE(counters_.step_in_epoch < steps_per_epoch_,
                   "checkpoint {} is at step {} of an epoch of {} steps (a different data set or batch size?)",
                   source, counters_.step_in_epoch, steps_per_epoch_);
  }

  // Every rank's RNG states and running sums (a collective under data parallelism).
  // Checkpoint names: rank 0's are those of a single process, rank r's are prefixed "rankR.".
  std::vector<torch::Tensor> rank_state() {
    std::vector<torch::Tensor> t{aug_gen_.get_state(), at::detail::getDefaultCPUGenerator().get_state(),
                                 loss_sum_.cpu(), correct_.cpu(), torch::tensor(seen_)};
    if (s_.device.is_cuda()) t.push_back(at::globalContext().defaultGenerator(s_.device).get_state());
    return t;
  }
  static constexpr std::array<const char*, 6> kRankStateNames{"augment", "cpu_default", "loss_sum", "correct", "seen",
                                                             "device_default"};

  // After restore(): rank r > 0 takes its "rankR." states when the checkpoint has them; a rank
  // the checkpoint did not have (another world size) starts its own streams at this point.
  // Rank 0 adds the running sums of ranks beyond the world size, so the epoch's train loss and
  // error still count every image.
  void restore_rank_state(const io::Checkpoint& ck, const std::string& source) {
    auto has = [](const io::StateDict& d, const std::string& key) {
      for (const auto& [k, v] : d)
        if (k == key) return true;
      return false;
    };
    const int r = dp_->rank();
    const auto p = fmt::format("rank{}.", r);
    torch::NoGradGuard no_grad;
    if (r > 0) {
      if (has(ck.rng, p + "augment")) {
        aug_gen_.set_state(io::find_tensor(ck.rng, p + "augment", source));
        at::Generator(at::detail::getDefaultCPUGenerator()).set_state(io::find_tensor(ck.rng, p + "cpu_default", source));
        if (s_.device.is_cuda())
          at::Generator(at::globalContext().defaultGenerator(s_.device))
              .set_state(io::find_tensor(ck.rng, p + "device_default", source));
        loss_sum_.copy_(io::find_tensor(ck.running, p + "loss_sum", source));
        correct_.copy_(io::find_tensor(ck.running, p + "correct", source));
        seen_ = io::find_tensor(ck.running, p + "seen", source).item<int64_t>();
      } else {
        aug_gen_.set_current_seed(mix_seed(rank_seed(1), static_cast<uint64_t>(counters_.global_step), 1));
        torch::manual_seed(mix_seed(rank_seed(2), static_cast<uint64_t>(counters_.global_step), 2));
        zero_running_sums();
      }
      return;
    }
    for (int q = dp_->size();; ++q) {
      const auto pq = fmt::format("rank{}.", q);
      if (!has(ck.running, pq + "seen")) break;
      loss_sum_ += io::find_tensor(ck.running, pq + "loss_sum", source).to(loss_sum_.device());
      correct_ += io::find_tensor(ck.running, pq + "correct", source).to(correct_.device());
      seen_ += io::find_tensor(ck.running, pq + "seen", source).item<int64_t>();
    }
  }

  io::Checkpoint make_checkpoint() {
    if (dp_) {
      dp_->broadcast(model_buffers());  // the checkpoint and every rank hold rank 0's running statistics
      const auto gathered = dp_->comm().all_gather_bytes(pickle(rank_state()));
      if (!writer_) return {};
      auto ck = make_checkpoint_of_this_rank();
      auto meta = nlohmann::json::parse(ck.meta_json);
      meta["world_size"] = dp_->size();
      ck.meta_json = meta.dump();
      for (int r = 1; r < dp_->size(); ++r) {
        const auto state = unpickle(gathered[static_cast<size_t>(r)]);
        const auto p = fmt::format("rank{}.", r);
        for (size_t i = 0; i < state.size(); ++i) {
          auto& dst = (i < 2 || i == 5) ? ck.rng : ck.running;
          dst.push_back({p + kRankStateNames[i], state[i]});
        }
      }
      return ck;
    }
    return make_checkpoint_of_this_rank();
  }

  static std::string pickle(const std::vector<torch::Tensor>& tensors) {
    const auto bytes = torch::pickle_save(c10::IValue(c10::List<at::Tensor>(tensors)));
    return std::string(bytes.begin(), bytes.end());
  }
  static std::vector<torch::Tensor> unpickle(const std::string& bytes) {
    auto v = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toTensorList();
    return std::vector<torch::Tensor>(v.begin(), v.end());
  }

  std::vector<torch::Tensor> model_buffers() const { return s_.model->buffers(); }
  std::vector<torch::Tensor> model_tensors() const {
    auto t = s_.model->parameters();
    for (auto& b : s_.model->buffers()) t.push_back(b);
    return t;
  }
  // Seeds of rank r's own streams (role 1: augmentation, 2: dropout); rank 0 never uses them.
  uint64_t rank_seed(uint64_t role) const {
    return mix_seed(s_.config.seed, static_cast<uint64_t>(dp_ ? dp_->rank() : 0), role + 1);
  }
  const data::SplitData& test_split() const { return dp_ && dp_->size() > 1 ? test_part_ : s_.test; }
  const data::SplitData& val_split() const { return dp_ && dp_->size() > 1 ? val_part_ : s_.val; }

  io::Checkpoint make_checkpoint_of_this_rank() {
    io::Checkpoint ck;
    ck.config_yaml = config_to_string(s_.config);
    auto meta = counters_.to_json();
    meta["class_names"] = s_.test.class_names;  // for predict (image folders have no standard names)
    meta["precision"] = precision_name(s_.config.precision);
    meta["preprocessing"] = s_.preprocessing.to_json();  // what eval, predict and export apply
    ck.meta_json = meta.dump();
    {
      MixedPrecisionWeights::MasterScope master(mixed_);  // checkpoints hold the fp32 master weights
      ck.model = io::state_dict(*s_.model);
    }
    ck.optimizer = optimizer_->state();
    if (ema_.enabled()) {
      MixedPrecisionWeights::MasterScope master(mixed_);
      AverageScope average(ema_);
      ck.ema = io::state_dict(*s_.model);
      for (auto& t : ck.ema) t.value = t.value.clone();  // state_dict aliases CPU tensors; the swap back changes them
    }
    ck.rng.push_back({"augment", aug_gen_.get_state()});
    ck.rng.push_back({"cpu_default", at::detail::getDefaultCPUGenerator().get_state()});
    if (s_.device.is_cuda())
      ck.rng.push_back({"device_default", at::globalContext().defaultGenerator(s_.device).get_state()});
    ck.running = {{"loss_sum", loss_sum_.cpu()}, {"correct", correct_.cpu()}, {"seen", torch::tensor(seen_)}};
    if (scaler_.enabled())
      for (auto& t : scaler_.state()) ck.running.push_back(std::move(t));
    if (ema_.enabled()) ck.running.push_back({"ema_updates", torch::tensor(ema_.updates())});
    ck.normalizer = s_.normalizer.state();
    return ck;
  }

  void save_last() {
    counters_.epoch_seconds = epoch_elapsed();
    auto ck = make_checkpoint();  // a collective under data parallelism: every rank calls it
    if (writer_) {
      keep_previous();
      io::save_checkpoint(last_path(), ck);
    }
    last_save_ = Clock::now();
  }

  // previous.ckpt <- the current last.ckpt, as a hard link made under a temporary name and
  // renamed (so a kill leaves either the old or the new previous.ckpt). Without hard links
  // (some file systems) there is no previous.ckpt.
  void keep_previous() const {
    std::error_code ec;
    if (!fs::exists(last_path(), ec)) return;
    const auto previous = previous_checkpoint_path(run_dir_);
    const auto tmp = (fs::path(previous).parent_path() / ".previous.ckpt.tmp0").string();  // cleaned like any temporary
    fs::remove(tmp, ec);
    fs::create_hard_link(last_path(), tmp, ec);
    if (!ec) fs::rename(tmp, previous, ec);
    if (ec) fs::remove(tmp, ec);
  }

  double epoch_elapsed() const { return epoch_base_seconds_ + seconds_since(epoch_start_); }

  // The run: epochs until config.epochs, each trained step by step, then evaluated,
  // reported and checkpointed. Continues from the restored counters (resume).
  RunResult run() {
    open_logs();
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
      evaluate_and_report(epoch);  // ends with last.ckpt at the epoch boundary
      if (agreed(StopSignalGuard::received() != 0) && counters_.epochs_done < s_.config.epochs) interrupted();
    }
    return result();
  }

 private:
  // On the CPU the loss is read every step (cheap there); on a GPU reading it forces a host
  // synchronization, so only every kDivergenceCheckInterval steps (and, for every epoch, its
  // mean loss at the end).
  static constexpr int64_t kDivergenceCheckInterval = 50;

  // True on every rank when it is true on any (one process: `mine`).
  bool agreed(bool mine) {
    if (!dp_) return mine;
    StepDecision d;
    d.stop = mine;
    return dp_->agree(d).stop;
  }

  // metrics.jsonl (cut back to the checkpoint's epochs: a crash after an append and before
  // the checkpoint leaves one line too many; it is recomputed identically), TensorBoard
  // events and the progress display.
  void open_logs() {
    if (!writer_) return;  // the other ranks write nothing and print nothing
    const auto metrics_path = (fs::path(run_dir_) / "metrics.jsonl").string();
    remove_stale_temp_files();
    history_ = read_metrics(metrics_path);
    if (static_cast<int64_t>(history_.size()) > counters_.epochs_done)
      history_.resize(static_cast<size_t>(counters_.epochs_done));
    // Rewritten whole (by rename) on every resume: a crash inside an append leaves a torn last
    // line, which read_metrics skips but the next append would be glued onto.
    if (fs::exists(metrics_path)) write_metrics(metrics_path, history_);
    log_.emplace(metrics_path);
    // steps.jsonl likewise, cut back to the checkpoint's step.
    const auto steps_path = (fs::path(run_dir_) / "steps.jsonl").string();
    std::vector<StepMetrics> steps;
    if (fs::exists(steps_path)) {
      steps = read_step_metrics(steps_path);
      steps.erase(std::remove_if(steps.begin(), steps.end(),
                                 [&](const StepMetrics& m) { return m.step > counters_.global_step; }),
                  steps.end());
      write_step_metrics(steps_path, steps);
    }
    if (s_.config.log_every_steps > 0) step_log_.emplace(steps_path);
    open_tensorboard(steps);
    out_ = options_.quiet ? nullptr : stderr;
    if (out_) progress_.emplace(static_cast<int>(s_.config.epochs), steps_per_epoch_, out_);
  }

  // One event file, written anew on every start from the logs (cut back to the checkpoint),
  // then the older files removed: a run killed after writing an epoch's points and before
  // its checkpoint would otherwise show them twice after the resume.
  void open_tensorboard(const std::vector<StepMetrics>& steps) {
    tb_.emplace(run_dir_);
    for (const auto& m : steps)
      tb_->add_scalars({{"step/loss", m.loss}, {"step/lr", m.lr}, {"step/images_per_second", m.images_per_second}},
                       m.step);
    for (const auto& m : history_) tb_->write_epoch(m);
    tb_->flush();
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(run_dir_, ec)) {
      const auto name = e.path().filename().string();
      if (name.rfind("events.out.tfevents.", 0) == 0 && e.path() != fs::path(tb_->path())) fs::remove(e.path(), ec);
    }
  }

  // Temporaries of writes a kill interrupted (core/atomic_file names them .NAME.tmpNNNNNN
  // beside the target): never renamed, never read, removed when the run starts or resumes.
  void remove_stale_temp_files() const {
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

  void say(const std::string& line) const {
    if (out_) fmt::print(out_, "{}\n", line);
  }

  void announce() const {
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
                    c.precision == Precision::Fp32 ? ""
                                                   : "; fp32 master weights, BatchNorm and loss"));
    if (!s_.precision.warning.empty()) say("  warning: " + s_.precision.warning);
    const auto extras = recipe_extras(c);
    if (!extras.empty()) say("  recipe: " + join(extras, ", "));
    if (dp_) {
      say(fmt::format("  data-parallel: {} rank{} x {} images, BatchNorm {}, gradients averaged in {} allreduce "
                      "bucket(s) of up to {} MB ({:.1f} MB per step)",
                      dp_->size(), dp_->size() == 1 ? "" : "s", batch_ / dp_->size(),
                      c.model.sync_bn ? "synchronized" : "per rank",
                      (flat_.numel() * 4 + int64_t(c.distributed.bucket_mb * (1 << 20)) - 1) /
                          int64_t(c.distributed.bucket_mb * (1 << 20)),
                      c.distributed.bucket_mb, flat_.numel() * 4 / 1e6));
    }
  }

  // Epoch `epoch` from counters_.step_in_epoch (0, or where the checkpoint left it) to its end.
  void train_epoch(int64_t epoch) {
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

  // A stop signal: this process's, or under data parallelism, any rank's (agreed at the step).
  bool stop_requested() const { return dp_ ? step_decision_.stop : StopSignalGuard::received() != 0; }

  // Timers, the augmentation seed and the running sums (kept when resuming inside the
  // epoch); returns the epoch's data order.
  torch::Tensor begin_epoch(int64_t epoch) {
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
    if (loader_ && dp_) {
      // This rank's rows of each global batch, in step order: the loader cuts them into this
      // rank's batches (only the last global batch is short).
      std::vector<int64_t> order;
      for (int64_t step = 0; step < steps_per_epoch_; ++step) {
        auto rows = dp_->shard(perm.narrow(0, step * batch_, std::min(batch_, n_train_ - step * batch_))).contiguous();
        order.insert(order.end(), rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + rows.numel());
      }
      loader_->start(epoch, std::move(order), dp_->shard_size(batch_), counters_.step_in_epoch);
    } else if (loader_) {
      loader_->start(epoch, std::vector<int64_t>(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + n_train_), batch_,
                     counters_.step_in_epoch, /*drop_last_if_one=*/true);
    }
    perm = perm.to(s_.device);
    if (progress_) {
      progress_->start_epoch(static_cast<int>(epoch + 1));
      for (int64_t i = 0; i < counters_.step_in_epoch; ++i) progress_->step(0);
    }
    return perm;
  }

  // One optimizer step on batch `step` of the epoch's order `perm`.
  void train_step(int64_t epoch, int64_t step, const torch::Tensor& perm) {
    const auto& c = s_.config;
    const auto t0 = Clock::now();
    const int64_t begin = step * batch_, len = std::min(batch_, n_train_ - begin);
    torch::Tensor images, labels;
    if (loader_) {
      auto b = loader_->next();
      for (const auto& [index, message] : b.skipped) note_skipped(index, message);
      images = b.images.to(s_.device, /*non_blocking=*/true);
      labels = s_.train.labels.index_select(0, b.indices).to(s_.device, /*non_blocking=*/true);
    } else {
      auto idx = perm.narrow(0, begin, len);
      if (dp_) idx = dp_->shard(idx);
      images = s_.train.memory.images.index_select(0, idx);
      labels = s_.train.memory.labels.index_select(0, idx);
    }
    const int64_t taken = labels.size(0);
    // Skipped files left fewer images than BatchNorm needs (on any rank): no update, the step still counts.
    const bool too_few = dp_ && c.data.on_bad_image == OnBadImage::Skip ? agreed(taken < 2) : taken < 2;
    if (too_few) {
      ++counters_.global_step;
      counters_.step_in_epoch = step + 1;
      if (progress_) progress_->step(taken);
      return;
    }
    // uint8 crop and flip, normalization, then the regularizers of the normalized batch.
    auto xf = s_.normalizer(
        data::auto_augment_batch(data::augment_batch(images, augment_, aug_gen_), augment_.policy, aug_gen_));
    xf = data::cutout_batch(xf, augment_.cutout, aug_gen_);
    xf = data::random_erasing_batch(xf, augment_.erasing, aug_gen_);
    torch::Tensor targets;  // soft targets when batches are mixed
    if (c.mix.enabled()) {
      auto mixed = data::mix_batch(xf, labels, s_.model->num_classes(), c.loss.label_smoothing, c.mix, aug_gen_);
      xf = mixed.images;
      targets = mixed.targets;
    }
    auto x = to_input(xf, c.channels_last).to(mixed_.dtype());
    data_seconds_ += seconds_since(t0);

    const double lr = schedule_->lr(counters_.global_step);
    const int phase = schedule_->phase(counters_.global_step);
    if (phase != counters_.phase) {
      if (c.optimizer.reset_momentum_on_drop) optimizer_->reset_momentum();
      counters_.phase = phase;
    }
    flat_.zero_grad();
    mixed_.zero_grad();
    torch::Tensor logits;
    {
      models::BatchNormSyncScope sync(dp_ && c.model.sync_bn ? dp_->cross_replica_sum() : nullptr);
      logits = s_.model->forward(x);
    }
    auto loss = training_loss(logits.to(torch::kFloat), labels, targets);  // fp32 softmax and loss
    if (!dp_) check_divergence(loss, epoch, step, lr);
    // Weighted so that the ranks' average is the global batch's mean-loss gradient.
    const auto objective =
        dp_ && dp_->size() > 1 ? loss * (static_cast<double>(taken) * dp_->size() / static_cast<double>(len)) : loss;
    scaler_.scale_loss(objective).backward();
    mixed_.gradients_to_master();
    if (dp_) {
      // The agreement first: it also waits for the slowest rank, so the reduction's time that
      // follows is the communication alone (the epoch line's "allreduce ms/step").
      StepDecision mine;
      mine.stop = StopSignalGuard::received() != 0;
      const double v = loss.item<double>();
      mine.diverged = !std::isfinite(v);
      mine.checkpoint = checkpoint_time_due();
      step_decision_ = dp_->agree(mine);
      if (step_decision_.diverged) diverged(std::isfinite(v) ? std::nan("") : v, epoch, step, lr);
      dp_->reduce_gradients();
    }
    auto grads = flat_.grads();
    if (scaler_.unscale_and_update(grads)) {  // fp16: an overflowed step is skipped
      if (c.optimizer.clip_grad_norm > 0) clip_grad_norm(grads, c.optimizer.clip_grad_norm);
      optimizer_->step(lr);
      mixed_.refresh();
      ema_.update();
    }
    {
      torch::NoGradGuard no_grad;
      auto st = batch_stats(logits, labels);
      loss_sum_ += st.loss_sum;
      correct_ += st.correct1;
      seen_ += taken;
    }
    ++counters_.global_step;
    counters_.step_in_epoch = step + 1;
    counters_.last_lr = lr;
    // CUDA: the host runs ahead of the device; wait for the epoch's queued work before its last
    // step is timed, so that images/s counts the device's time.
    if (s_.device.is_cuda() && step + 1 == steps_per_epoch_) torch::cuda::synchronize();
    train_seconds_ += seconds_since(t0);
    if (c.log_every_steps > 0 && counters_.global_step % c.log_every_steps == 0) log_step(epoch, loss, lr);
    // Images/s of the whole world: rank 0 counts the global batch.
    if (progress_)
      progress_->step(dp_ ? len : taken, check_every_step() ? std::optional<double>(loss.item<double>()) : std::nullopt);
  }

  bool check_every_step() const { return !s_.device.is_cuda(); }

  // Cross-entropy; against smoothed labels (loss.label_smoothing) or mixed soft targets.
  torch::Tensor training_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                              const torch::Tensor& targets) const {
    namespace F = torch::nn::functional;
    if (targets.defined()) return data::soft_target_cross_entropy(logits, targets);
    const double s = s_.config.loss.label_smoothing;
    if (s > 0) return F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().label_smoothing(s));
    return F::cross_entropy(logits, labels);
  }

  // One steps.jsonl line and TensorBoard points (log_every_steps), from the writer only.
  void log_step(int64_t epoch, const torch::Tensor& loss, double lr) {
    if (!writer_) return;
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
    step_log_->append(m);
    tb_->add_scalars({{"step/loss", m.loss}, {"step/lr", m.lr}, {"step/images_per_second", m.images_per_second}},
                     m.step);
  }

  // Throws TrainingDiverged when the step's loss (read when due) is not finite.
  void check_divergence(const torch::Tensor& loss, int64_t epoch, int64_t step, double lr) {
    if (check_every_step() || (counters_.global_step + 1) % kDivergenceCheckInterval == 0) {
      const double v = loss.item<double>();
      if (!std::isfinite(v)) diverged(v, epoch, step, lr);
    }
  }

  // checkpoints/last.ckpt inside the epoch, every checkpoint.every_steps steps or
  // checkpoint.every_seconds seconds (the epoch's end always writes one).
  void maybe_checkpoint(int64_t step) {
    const auto& k = s_.config.checkpoint;
    const bool more_in_epoch = step + 1 < steps_per_epoch_;
    const bool by_steps = k.every_steps > 0 && counters_.global_step % k.every_steps == 0;
    const bool by_time = dp_ ? step_decision_.checkpoint : checkpoint_time_due();  // rank 0's clock
    if (more_in_epoch && (by_steps || by_time)) save_mid_epoch();
  }

  bool checkpoint_time_due() const {
    const auto& k = s_.config.checkpoint;
    return k.every_seconds > 0 && seconds_since(last_save_) >= k.every_seconds;
  }

  void save_mid_epoch() {
    counters_.data_seconds = data_seconds_;
    counters_.train_seconds = train_seconds_;
    save_last();
  }

  // After a stop signal, with last.ckpt written at a step boundary.
  [[noreturn]] void interrupted() {
    if (progress_) progress_->end_epoch();
    const int sig = StopSignalGuard::received() ? StopSignalGuard::received() : SIGTERM;  // another rank's
    const std::string where =
        counters_.step_in_epoch > 0
            ? fmt::format("in epoch {} after step {} of {}", counters_.epochs_done + 1, counters_.step_in_epoch,
                          steps_per_epoch_)
            : fmt::format("after epoch {}", counters_.epochs_done);
    throw TrainingInterrupted(sig, fmt::format("stopped by {} {} (global step {}); saved {}; continue with 'wrn resume {}'",
                                               signal_name(sig), where, counters_.global_step, last_path(), run_dir_));
  }

  // End of the epoch: train numbers, test numbers, logs, checkpoints and figures.
  void evaluate_and_report(int64_t epoch) {
    const bool do_eval = (epoch + 1) % s_.config.eval_every == 0 || epoch + 1 == s_.config.epochs;
    const auto m = epoch_metrics(epoch, do_eval);
    report_epoch(m);
    close_epoch(epoch);
    const double chooser = s_.val.size() > 0 ? m.val_top1_err : m.test_top1_err;  // validation when held out
    if (do_eval && chooser < counters_.best_test_error) {
      counters_.best_test_error = chooser;
      counters_.best_epoch = m.epoch;
      if (s_.config.checkpoint.keep_best) {
        auto ck = make_checkpoint();
        if (writer_) io::save_checkpoint(best_path(), ck);
      }
    }
    save_last();
    if (writer_) write_figures(history_);
  }

  EpochMetrics epoch_metrics(int64_t epoch, bool do_eval) {
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
    if (do_eval) {
      EvalOptions eo;
      eo.batch_size = test_batch_;
      eo.channels_last = s_.config.channels_last;
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
    m.seconds = epoch_elapsed();
    m.images_per_second = train_sums[2] / std::max(train_seconds_, 1e-9);
    return m;
  }

  // One split (this rank's share under data parallelism, the sums then added over the ranks).
  EvalResult evaluate_split(const data::SplitData& split, const EvalOptions& eo) {
    auto r = evaluate(*s_.model, split, s_.preprocessing, s_.normalizer, eo);
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

  // The progress line, metrics.jsonl, TensorBoard and the in-memory history.
  void report_epoch(const EpochMetrics& m) {
    if (progress_) {
      progress_->end_epoch(fmt::format(
          "epoch {}/{}  lr {:.4g}  train loss {:.4f} err {:.2f}%  test loss {:.4f} err {:.2f}% (top-5 {:.2f}%)  "
          "{:.1f}s  {:.0f} img/s  data {:.1f}%{}{}",
          m.epoch, s_.config.epochs, m.lr, m.train_loss, m.train_top1_err, m.test_loss, m.test_top1_err,
          m.test_top5_err, m.seconds, m.images_per_second, 100.0 * data_seconds_ / std::max(train_seconds_, 1e-9),
          scaler_.enabled() ? fmt::format("  loss scale {:g}, {} steps skipped", scaler_.scale(), scaler_.skipped_steps())
                            : "",
          allreduce_text()));
    }
    if (writer_) {
      log_->append(m);
      tb_->write_epoch(m);
    }
    history_.push_back(m);
  }

  // "  allreduce 4.1 ms/step (310 MB/s)": the gradient reduction of this epoch's steps (rank 0's clock).
  std::string allreduce_text() {
    if (!dp_ || dp_->size() == 1) return "";
    const int64_t steps = dp_->reduce_steps();
    const double s = dp_->take_reduce_seconds();
    if (steps == 0 || s <= 0) return "";
    return fmt::format("  allreduce {:.1f} ms/step ({:.0f} MB/s)", 1e3 * s / steps,
                       dp_->bytes_per_step() * steps / s / 1e6);
  }

  // Counters and running sums at the start of the next epoch.
  void close_epoch(int64_t epoch) {
    counters_.epochs_done = epoch + 1;
    counters_.step_in_epoch = 0;
    counters_.data_seconds = counters_.train_seconds = 0;
    epoch_base_seconds_ = 0;
    epoch_start_ = Clock::now();
    zero_running_sums();
  }

  void zero_running_sums() {
    torch::NoGradGuard no_grad;
    loss_sum_.zero_();
    correct_.zero_();
    seen_ = 0;
  }

  RunResult result() const {
    RunResult result;
    result.epochs_completed = counters_.epochs_done;
    if (!history_.empty()) result.final_test_error = history_.back().test_top1_err;
    result.best_test_error = counters_.best_test_error;
    for (const auto& h : history_) result.wall_seconds += h.seconds;
    return result;
  }

  [[noreturn]] void diverged(double value, int64_t epoch, int64_t step, double lr) {
    if (progress_) progress_->end_epoch();
    std::string last = "none";
    if (fs::exists(last_path())) {
      try {
        auto ck = io::load_checkpoint(last_path());
        auto meta = Counters::from_json(nlohmann::json::parse(ck.meta_json), last_path());
        last = fmt::format("{} ({} epochs + {} steps done, global step {})", last_path(), meta.epochs_done,
                           meta.step_in_epoch, meta.global_step);
      } catch (const std::exception&) {
        last = last_path();
      }
    }
    throw TrainingDiverged(fmt::format(
        "training diverged: the loss is {} at epoch {} step {} (global step {}, lr {}); stopped without saving. "
        "Last good checkpoint: {}. Lower optimizer.lr or add a warmup (schedule.warmup)",
        value, epoch + 1, step + 1, counters_.global_step + 1, lr, last));
  }

  void write_figures(const std::vector<EpochMetrics>& history) {
    const auto& c = s_.config;
    CurvesPlotOptions po;
    po.title = fmt::format("{} on {}", s_.spec.name, c.data.kind);
    plot_curves((fs::path(run_dir_) / "curves.png").string(), history, po);
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
                         {"optimizer", c.optimizer.type == OptimizerType::AdamW
                                           ? fmt::format("AdamW, betas {}, {}, eps {:g}", c.optimizer.betas.at(0),
                                                         c.optimizer.betas.at(1), c.optimizer.eps)
                                           : fmt::format("SGD, momentum {}{}", c.optimizer.momentum,
                                                         c.optimizer.nesterov ? " (Nesterov)" : "")},
                         {"weight decay", fmt::format("{}", c.optimizer.weight_decay)},
                         {"epochs", std::to_string(c.epochs)},
                         {"preprocessing", s_.preprocessing.describe()},
                         {"data", s_.storage},
                         {"seed", std::to_string(c.seed)},
                         {"precision", fmt::format("{} ({})", precision_name(c.precision), s_.precision.reason)}};
    for (const auto& [k, v] : c.model.settings) r.hyperparameters.emplace_back("model " + k, v);
    for (const auto& extra : recipe_extras(c)) r.hyperparameters.emplace_back("extra", extra);
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
    fill_results(r, history);
    write_report((fs::path(run_dir_) / "report.md").string(), r);
  }

  // A training image the loader skipped (data.on_bad_image skip): listed once in the report.
  void note_skipped(int64_t index, const std::string& message) {
    const auto& file = s_.train.streamed() ? s_.train.files.paths[size_t(index)] : std::to_string(index);
    if (skipped_.emplace(file, message).second && out_) say(fmt::format("  skipped: {}", message));
  }

  RunSetup s_;
  std::string run_dir_;
  RunOptions options_;
  FlatParameters flat_;
  std::unique_ptr<DataParallel> dp_;  // one rank of several (options_.communicator)
  bool writer_ = true;                // this process writes the run directory (rank 0)
  StepDecision step_decision_;        // the ranks' agreement at the last step
  data::SplitData test_part_, val_part_;  // this rank's share of the evaluation splits
  std::unique_ptr<FlatOptimizer> optimizer_;
  WeightAverage ema_;            // disabled without ema.decay
  MixedPrecisionWeights mixed_;  // disabled for fp32
  LossScaler scaler_;            // enabled for fp16 only
  std::unique_ptr<LrSchedule> schedule_;
  int64_t n_train_ = 0, batch_ = 0, steps_per_epoch_ = 0, test_batch_ = 0;
  data::AugmentOptions augment_;
  at::Generator aug_gen_;
  std::unique_ptr<data::BatchLoader> loader_;  // streamed or per-sample-transformed training batches
  std::map<std::string, std::string> skipped_;
  torch::Tensor loss_sum_, correct_;
  int64_t seen_ = 0;
  Counters counters_;
  Clock::time_point epoch_start_ = Clock::now(), last_save_ = Clock::now();
  double epoch_base_seconds_ = 0;
  double data_seconds_ = 0, train_seconds_ = 0;  // the running epoch's, resumed from the checkpoint
  // Reporting (open_logs()).
  std::vector<EpochMetrics> history_;
  std::optional<MetricsLog> log_, step_log_;
  Clock::time_point last_step_log_ = Clock::now();
  int64_t last_step_log_images_ = 0;
  std::optional<TensorBoardWriter> tb_;
  std::FILE* out_ = nullptr;
  std::optional<Progress> progress_;
};

}  // namespace

namespace {

// A run from its first step, in a locked run directory: config.yaml, then the engine.
int thread_count(const TrainConfig& config, const RunOptions& options) {
  return config.threads > 0 ? config.threads : options.default_threads;
}

// Data parallel on CUDA: rank r of a node uses GPU LOCAL_RANK ("cuda" and "auto" name no index).
// The configuration keeps its device string (the same on every rank); the setup holds the GPU.
RunSetup create_setup(const TrainConfig& config, const RunOptions& options,
                      const std::vector<torch::Tensor>* normalizer_state = nullptr) {
  auto c = config;
  if (options.communicator && (c.device == "cuda" || (c.device == "auto" && torch::cuda::is_available())))
    c.device = fmt::format("cuda:{}", options.communicator->local_rank());
  auto setup = RunSetup::create(c, true, normalizer_state);
  setup.config.device = config.device;
  return setup;
}

bool writes_run_dir(const RunOptions& options) { return !options.communicator || options.communicator->rank() == 0; }

RunResult start_run(RunSetup setup, const std::string& run_dir, const RunOptions& options) {
  if (writes_run_dir(options)) {
    // Stale logs from an earlier, checkpoint-less attempt would be appended to: start clean.
    fs::remove(fs::path(run_dir) / "metrics.jsonl");
    write_file_atomically((fs::path(run_dir) / "config.yaml").string(), config_to_string(setup.config));
  }
  Engine engine(std::move(setup), run_dir, options);
  return engine.run();
}

}  // namespace

RunResult train(const TrainConfig& config, const std::string& run_dir, const RunOptions& options) {
  config.validate();
  const bool writer = writes_run_dir(options);  // data parallel: only rank 0 touches run_dir
  const fs::path last = last_checkpoint_path(run_dir);
  WRN_CHECK(!writer || !fs::exists(last),
            "'{}' already holds a run (checkpoints/last.ckpt); use 'wrn resume {}' or another --out", run_dir, run_dir);
  configure_threads(thread_count(config, options));
  // Data, model and initial weights first: a bad data set or weight file leaves no run directory.
  auto setup = create_setup(config, options);
  if (!config.model.init_from.empty()) {
    const auto& path = config.model.init_from;
    const bool fine_tune =
        io::load_weights(*setup.model, io::read_weights_file(path).tensors, path, io::FineTune::WhenClassesDiffer);
    if (!options.quiet) {
      fmt::print(stderr, "initialized from {}{}\n", path,
                 fine_tune ? " (classifier re-initialized for the new classes)" : "");
    }
  }
  std::optional<RunDirLock> lock;
  if (writer) {
    fs::create_directories(run_dir);
    lock.emplace(run_dir);  // held until the run ends; checked again under it (two trains started together)
    WRN_CHECK(!fs::exists(last),
              "'{}' already holds a run (checkpoints/last.ckpt); use 'wrn resume {}' or another --out", run_dir, run_dir);
  }
  return start_run(std::move(setup), run_dir, options);
}

namespace {

// What resume() continues from, read by rank 0 (the only rank that needs run_dir): a
// checkpoint's bytes, or the config.yaml of a run that stopped before its first checkpoint.
struct ResumePoint {
  bool has_checkpoint = false;
  std::string bytes;   // the checkpoint file, or config.yaml's text
  std::string source;  // the file they came from
};

ResumePoint find_resume_point(const std::string& run_dir, const RunOptions& options) {
  const auto last = last_checkpoint_path(run_dir), previous = previous_checkpoint_path(run_dir);
  const auto config_path = (fs::path(run_dir) / "config.yaml").string();
  ResumePoint p;
  if (!fs::exists(last) && !fs::exists(previous)) {
    // Stopped before its first checkpoint: nothing was trained yet, the run starts over.
    WRN_CHECK_FILE(fs::exists(config_path), "'{}' has no checkpoint to resume from ({} is missing) and no config.yaml",
                   run_dir, last);
    if (!options.quiet)
      fmt::print(stderr, "wrn: '{}' has no checkpoint yet (the run stopped before its first one): starting it from "
                         "its config.yaml\n", run_dir);
    (void)load_yaml_file(config_path);  // a readable mapping (errors name the file)
    p.bytes = read_file(config_path);
    p.source = config_path;
    return p;
  }
  p.has_checkpoint = true;
  try {
    p.bytes = read_file(last);
    p.source = last;
    (void)io::parse_checkpoint(p.bytes, last);  // readable?
  } catch (const FileError& e) {
    if (!fs::exists(previous)) throw;
    p.bytes = read_file(previous);
    p.source = previous;
    (void)io::parse_checkpoint(p.bytes, previous);
    // Out of the way (kept for inspection): the next save must not make it the previous one.
    const auto unreadable = last + ".unreadable";
    fs::rename(last, unreadable);
    fmt::print(stderr, "wrn: warning: {}; resuming from {} (the checkpoint before it; the unreadable one is now {})\n",
               one_line_message(e), previous, unreadable);
  }
  return p;
}

}  // namespace

RunResult resume(const std::string& run_dir, const RunOptions& options) {
  const bool writer = writes_run_dir(options);
  std::optional<RunDirLock> lock;
  ResumePoint point;
  if (writer) {
    WRN_CHECK_FILE(fs::is_directory(run_dir), "'{}': no such run directory", run_dir);
    lock.emplace(run_dir);
    point = find_resume_point(run_dir, options);
  }
  if (options.communicator) {  // the other ranks get rank 0's files (run_dir need not be shared)
    auto& comm = *options.communicator;
    point.has_checkpoint = comm.broadcast_bytes(point.has_checkpoint ? "1" : "0") == "1";
    point.source = comm.broadcast_bytes(point.source);
    point.bytes = comm.broadcast_bytes(point.bytes);
  }
  const auto config_path = (fs::path(run_dir) / "config.yaml").string();
  auto apply_options = [&](TrainConfig& config) {
    if (options.epochs) config.epochs = *options.epochs;
    if (options.precision) config.precision = *options.precision;
    if (options.epochs || options.precision) config.validate();
  };
  if (!point.has_checkpoint) {
    auto config = config_from_yaml(YAML::Load(point.bytes));
    apply_options(config);
    configure_threads(thread_count(config, options));
    return start_run(create_setup(config, options), run_dir, options);
  }
  const io::Checkpoint ck = io::parse_checkpoint(point.bytes, point.source);
  point.bytes = std::string();  // the parsed copy is enough
  const auto yaml = YAML::Load(ck.config_yaml);
  auto config = config_from_yaml(yaml);
  // A run from before `precision` existed trained in fp32: it continues in fp32 (bitwise), not in auto's choice.
  if (!yaml["precision"]) config.precision = Precision::Fp32;
  apply_options(config);
  configure_threads(thread_count(config, options));
  auto setup = create_setup(config, options, &ck.normalizer);  // resolves the precision
  if (writer && (options.epochs || options.precision))
    write_file_atomically(config_path, config_to_string(setup.config));
  Engine engine(std::move(setup), run_dir, options);
  engine.restore(ck, point.source);
  return engine.run();
}

}  // namespace wrn::train
