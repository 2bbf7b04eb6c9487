// The engine's checkpoints (what they hold, restore() as their inverse) and its stops
// (signals, divergence): see engine.h.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <torch/serialize.h>

#include <csignal>

#include <cmath>
#include <filesystem>

#include "wrn/core/error.h"
#include "wrn/train/engine.h"
#include "wrn/train/engine_detail.h"
#include "wrn/train/stop_signals.h"

namespace fs = std::filesystem;

namespace wrn::train {
namespace {

using detail::mix_seed;
using detail::seconds_since;

std::string pickle(const std::vector<torch::Tensor>& tensors) {
  const auto bytes = torch::pickle_save(c10::IValue(c10::List<at::Tensor>(tensors)));
  return std::string(bytes.begin(), bytes.end());
}

std::vector<torch::Tensor> unpickle(const std::string& bytes) {
  auto v = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toTensorList();
  return std::vector<torch::Tensor>(v.begin(), v.end());
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Restore

void Engine::restore(const io::Checkpoint& ck, const std::string& source) {
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
  counters_ = RunCounters::from_json(nlohmann::json::parse(ck.meta_json), source);
  set_rank_state(RankState::from_checkpoint(ck, "", s_.device.is_cuda(), source));
  scaler_.load_state(ck.running, source);
  if (dp_) restore_rank_state(ck, source);
  WRN_CHECK_FILE(counters_.step_in_epoch < steps_per_epoch_,
                 "checkpoint {} is at step {} of an epoch of {} steps (a different data set or batch size?)", source,
                 counters_.step_in_epoch, steps_per_epoch_);
}

// After restore(): rank r > 0 takes its "rankR." states when the checkpoint has them; a rank
// the checkpoint did not have (another world size) starts its own streams at this point.
// Rank 0 adds the running sums of ranks beyond the world size, so the epoch's train loss and
// error still count every image.
void Engine::restore_rank_state(const io::Checkpoint& ck, const std::string& source) {
  const int r = dp_->rank();
  torch::NoGradGuard no_grad;
  if (r > 0) {
    const auto p = fmt::format("rank{}.", r);
    if (RankState::in_checkpoint(ck, p)) {
      set_rank_state(RankState::from_checkpoint(ck, p, s_.device.is_cuda(), source));
    } else {
      aug_gen_.set_current_seed(mix_seed(rank_seed(1), static_cast<uint64_t>(counters_.global_step), 1));
      torch::manual_seed(mix_seed(rank_seed(2), static_cast<uint64_t>(counters_.global_step), 2));
      zero_running_sums();
    }
    return;
  }
  for (int q = dp_->size();; ++q) {
    const auto pq = fmt::format("rank{}.", q);
    if (!RankState::in_checkpoint(ck, pq)) break;
    const auto other = RankState::from_checkpoint(ck, pq, false, source);
    loss_sum_ += other.loss_sum.to(loss_sum_.device());
    correct_ += other.correct.to(correct_.device());
    seen_ += other.seen.item<int64_t>();
  }
}

RankState Engine::rank_state() const {
  RankState s;
  s.augment_rng = aug_gen_.get_state();
  s.cpu_rng = at::detail::getDefaultCPUGenerator().get_state();
  if (s_.device.is_cuda()) s.device_rng = at::globalContext().defaultGenerator(s_.device).get_state();
  s.loss_sum = loss_sum_.cpu();
  s.correct = correct_.cpu();
  s.seen = torch::tensor(seen_);
  return s;
}

void Engine::set_rank_state(const RankState& s) {
  aug_gen_.set_state(s.augment_rng);
  at::Generator(at::detail::getDefaultCPUGenerator()).set_state(s.cpu_rng);
  if (s_.device.is_cuda()) at::Generator(at::globalContext().defaultGenerator(s_.device)).set_state(s.device_rng);
  torch::NoGradGuard no_grad;
  loss_sum_.copy_(s.loss_sum);
  correct_.copy_(s.correct);
  seen_ = s.seen.item<int64_t>();
}

// ---------------------------------------------------------------------------------------
// Checkpoints

io::Checkpoint Engine::make_checkpoint() {
  if (!dp_) return make_checkpoint_of_this_rank();
  dp_->broadcast(model_buffers());  // the checkpoint and every rank hold rank 0's running statistics
  const auto gathered = dp_->comm().all_gather_bytes(pickle(rank_state().to_list()));
  if (!writer_) return {};
  auto ck = make_checkpoint_of_this_rank();
  auto meta = nlohmann::json::parse(ck.meta_json);
  meta["world_size"] = dp_->size();
  ck.meta_json = meta.dump();
  for (int r = 1; r < dp_->size(); ++r)
    RankState::from_list(unpickle(gathered[static_cast<size_t>(r)])).add_to(ck, fmt::format("rank{}.", r));
  return ck;
}

io::Checkpoint Engine::make_checkpoint_of_this_rank() {
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
  rank_state().add_to(ck, "");
  if (scaler_.enabled())
    for (auto& t : scaler_.state()) ck.running.push_back(std::move(t));
  if (ema_.enabled()) ck.running.push_back({"ema_updates", torch::tensor(ema_.updates())});
  ck.normalizer = s_.normalizer.state();
  return ck;
}

void Engine::save_last() {
  counters_.epoch_seconds = epoch_elapsed();
  auto ck = make_checkpoint();  // a collective under data parallelism: every rank calls it
  if (writer_) {
    keep_previous();
    io::save_checkpoint(last_path(), ck);
  }
  last_save_ = Clock::now();
}

void Engine::save_mid_epoch() {
  counters_.data_seconds = data_seconds_;
  counters_.train_seconds = train_seconds_;
  save_last();
}

// checkpoints/last.ckpt inside the epoch, every checkpoint.every_steps steps or
// checkpoint.every_seconds seconds (the epoch's end always writes one).
void Engine::maybe_checkpoint(int64_t step) {
  const auto& k = s_.config.checkpoint;
  const bool more_in_epoch = step + 1 < steps_per_epoch_;
  const bool by_steps = k.every_steps > 0 && counters_.global_step % k.every_steps == 0;
  const bool by_time = dp_ ? step_decision_.checkpoint : checkpoint_time_due();  // rank 0's clock
  if (more_in_epoch && (by_steps || by_time)) save_mid_epoch();
}

bool Engine::checkpoint_time_due() const {
  const auto& k = s_.config.checkpoint;
  return k.every_seconds > 0 && seconds_since(last_save_) >= k.every_seconds;
}

// previous.ckpt <- the current last.ckpt, as a hard link made under a temporary name and
// renamed (so a kill leaves either the old or the new previous.ckpt). Without hard links
// (some file systems) there is no previous.ckpt.
void Engine::keep_previous() const {
  std::error_code ec;
  if (!fs::exists(last_path(), ec)) return;
  const auto previous = previous_checkpoint_path(run_dir_);
  const auto tmp = (fs::path(previous).parent_path() / ".previous.ckpt.tmp0").string();  // cleaned like any temporary
  fs::remove(tmp, ec);
  fs::create_hard_link(last_path(), tmp, ec);
  if (!ec) fs::rename(tmp, previous, ec);
  if (ec) fs::remove(tmp, ec);
}

// ---------------------------------------------------------------------------------------
// Stops

// True on every rank when it is true on any (one process: `mine`).
bool Engine::agreed(bool mine) {
  if (!dp_) return mine;
  StepDecision d;
  d.stop = mine;
  return dp_->agree(d).stop;
}

// A stop signal: this process's, or under data parallelism, any rank's (agreed at the step).
bool Engine::stop_requested() const { return dp_ ? step_decision_.stop : StopSignalGuard::received() != 0; }

// After a stop signal, with last.ckpt written at a step boundary. (The progress line in
// progress ends when its sink is destroyed, as the exception unwinds the run.)
void Engine::interrupted() {
  sinks_.clear();
  const int sig = StopSignalGuard::received() ? StopSignalGuard::received() : SIGTERM;  // another rank's
  const std::string where =
      counters_.step_in_epoch > 0
          ? fmt::format("in epoch {} after step {} of {}", counters_.epochs_done + 1, counters_.step_in_epoch,
                        steps_per_epoch_)
          : fmt::format("after epoch {}", counters_.epochs_done);
  throw TrainingInterrupted(sig, fmt::format("stopped by {} {} (global step {}); saved {}; continue with 'wrn resume {}'",
                                             signal_name(sig), where, counters_.global_step, last_path(), run_dir_));
}

void Engine::diverged(double value, int64_t epoch, int64_t step, double lr) {
  sinks_.clear();  // ends the progress line
  std::string last = "none";
  if (fs::exists(last_path())) {
    try {
      auto ck = io::load_checkpoint(last_path());
      auto meta = RunCounters::from_json(nlohmann::json::parse(ck.meta_json), last_path());
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

}  // namespace wrn::train
