// The engine's bookkeeping, as checkpoints store it (train/engine.h's internals):
//   RunCounters  where the run is (epochs, steps, best epoch, the epoch's timers): the
//                checkpoint's meta JSON
//   RankState    one rank's random streams and the partial epoch's running sums: the
//                checkpoint's rng and running sections, under "rankR." for rank R > 0
#pragma once

#include <ATen/core/Generator.h>
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "wrn/io/checkpoint.h"

namespace wrn::train {

struct RunCounters {
  int64_t epochs_done = 0;    // finished epochs
  int64_t step_in_epoch = 0;  // steps done in epoch epochs_done + 1
  int64_t global_step = 0;
  // The best epoch: chosen by the lowest validation error when a validation split is held out
  // (data.val_fraction), else by the lowest test error. best_choice_error is the chooser's
  // error; best_test_error the test error of that epoch; best_val_error its validation error.
  double best_choice_error = std::numeric_limits<double>::infinity();
  double best_test_error = std::numeric_limits<double>::quiet_NaN();
  double best_val_error = std::numeric_limits<double>::quiet_NaN();
  int64_t best_epoch = 0;
  double epoch_seconds = 0;   // wall time spent in the current epoch before the checkpoint
  double data_seconds = 0;    // of which in the data pipeline
  double train_seconds = 0;   // of which in training steps (data included)
  int phase = 0;              // schedule phase of the last step
  double last_lr = 0;

  nlohmann::json to_json() const;
  // Throws FileError naming `what` for a missing key or values that cannot be (negative counts,
  // non-finite times): a crafted or damaged record must not steer the engine.
  static RunCounters from_json(const nlohmann::json& j, const std::string& what);
};

// One rank's random streams and running sums.
struct RankState {
  torch::Tensor augment_rng;  // the augmentation generator's state
  torch::Tensor cpu_rng;      // the default CPU generator's (dropout on the CPU)
  torch::Tensor device_rng;   // the default CUDA generator's; undefined on the CPU
  torch::Tensor loss_sum, correct, seen;  // the partial epoch's sums (CPU)

  // As one list (for an all-gather between ranks) and back.
  std::vector<torch::Tensor> to_list() const;
  static RankState from_list(const std::vector<torch::Tensor>& list);
  // Appends the entries to `ck` (rng: augment, cpu_default[, device_default]; running:
  // loss_sum, correct, seen), each name prefixed with `prefix` ("" for rank 0, "rankR.").
  void add_to(io::Checkpoint& ck, const std::string& prefix) const;
  // The entries under `prefix` (device_rng only when `with_device`); throws FileError naming
  // `source` for a missing one.
  static RankState from_checkpoint(const io::Checkpoint& ck, const std::string& prefix, bool with_device,
                                   const std::string& source);
  // Whether `ck` holds the entries of `prefix`.
  static bool in_checkpoint(const io::Checkpoint& ck, const std::string& prefix);
};

}  // namespace wrn::train
