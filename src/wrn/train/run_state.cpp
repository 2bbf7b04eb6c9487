#include "wrn/train/run_state.h"

#include <fmt/format.h>

#include <cmath>

#include "wrn/core/error.h"

namespace wrn::train {
namespace {

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }
double null_as_nan(const nlohmann::json& v) { return v.is_number() ? v.get<double>() : std::nan(""); }

bool has(const io::StateDict& d, const std::string& key) {
  for (const auto& [k, v] : d)
    if (k == key) return true;
  return false;
}

}  // namespace

nlohmann::json RunCounters::to_json() const {
  return {{"epochs_done", epochs_done}, {"step_in_epoch", step_in_epoch}, {"global_step", global_step},
          {"best_choice_error", number_or_null(best_choice_error)},
          {"best_test_error", number_or_null(best_test_error)}, {"best_val_error", number_or_null(best_val_error)},
          {"best_epoch", best_epoch}, {"epoch_seconds", epoch_seconds}, {"data_seconds", data_seconds},
          {"train_seconds", train_seconds}, {"phase", phase}, {"last_lr", last_lr}};
}

RunCounters RunCounters::from_json(const nlohmann::json& j, const std::string& what) {
  RunCounters c;
  try {
    c.epochs_done = j.at("epochs_done");
    c.step_in_epoch = j.at("step_in_epoch");
    c.global_step = j.at("global_step");
    // Checkpoints written before best_choice_error held the chooser's error as best_test_error.
    const auto& choice = j.contains("best_choice_error") ? j.at("best_choice_error") : j.at("best_test_error");
    c.best_choice_error = choice.is_null() ? std::numeric_limits<double>::infinity() : choice.get<double>();
    if (j.contains("best_choice_error")) {
      c.best_test_error = null_as_nan(j.at("best_test_error"));
      c.best_val_error = null_as_nan(j.value("best_val_error", nlohmann::json()));
    }
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

std::vector<torch::Tensor> RankState::to_list() const {
  std::vector<torch::Tensor> t{augment_rng, cpu_rng, loss_sum, correct, seen};
  if (device_rng.defined()) t.push_back(device_rng);
  return t;
}

RankState RankState::from_list(const std::vector<torch::Tensor>& t) {
  WRN_CHECK_FILE(t.size() == 5 || t.size() == 6, "a rank's state has {} tensors, expected 5 or 6", t.size());
  RankState s;
  s.augment_rng = t[0];
  s.cpu_rng = t[1];
  s.loss_sum = t[2];
  s.correct = t[3];
  s.seen = t[4];
  if (t.size() == 6) s.device_rng = t[5];
  return s;
}

void RankState::add_to(io::Checkpoint& ck, const std::string& prefix) const {
  ck.rng.push_back({prefix + "augment", augment_rng});
  ck.rng.push_back({prefix + "cpu_default", cpu_rng});
  if (device_rng.defined()) ck.rng.push_back({prefix + "device_default", device_rng});
  ck.running.push_back({prefix + "loss_sum", loss_sum});
  ck.running.push_back({prefix + "correct", correct});
  ck.running.push_back({prefix + "seen", seen});
}

RankState RankState::from_checkpoint(const io::Checkpoint& ck, const std::string& prefix, bool with_device,
                                     const std::string& source) {
  RankState s;
  s.augment_rng = io::find_tensor(ck.rng, prefix + "augment", source);
  s.cpu_rng = io::find_tensor(ck.rng, prefix + "cpu_default", source);
  if (with_device) s.device_rng = io::find_tensor(ck.rng, prefix + "device_default", source);
  s.loss_sum = io::find_tensor(ck.running, prefix + "loss_sum", source);
  s.correct = io::find_tensor(ck.running, prefix + "correct", source);
  s.seen = io::find_tensor(ck.running, prefix + "seen", source);
  return s;
}

bool RankState::in_checkpoint(const io::Checkpoint& ck, const std::string& prefix) {
  return has(ck.rng, prefix + "augment");
}

}  // namespace wrn::train
