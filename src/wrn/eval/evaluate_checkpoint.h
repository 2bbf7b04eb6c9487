// A training checkpoint evaluated on a split of its data set (what `wrn eval` does): the model
// rebuilt from the checkpoint's config and weights, the split read as the run read it, then
// evaluate() on the plain eval-mode forward or the BN-folded inference path.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "wrn/config/config.h"
#include "wrn/core/precision.h"
#include "wrn/eval/evaluate.h"

namespace wrn::train {

struct CheckpointEvalOptions {
  std::string data_dir;                // empty: the run's data.dir
  std::string split;                   // empty: the run's data.test_split
  std::optional<int64_t> limit;        // images of the split (0: all); unset: the run's data.limit_test
  std::optional<int64_t> batch_size;   // unset: data.test_batch_size, else 2 x data.batch_size
  std::string device = "cpu";          // cpu, cuda, cuda:N, auto
  Precision precision = Precision::Auto;  // resolved for the device (errors name --precision)
  bool optimized = false;              // the BN-folded CPU path that predict uses (infer::FusedClassifier)
  bool tta = false;                    // mirror averaging (always on for a run trained with eval_tta)
  bool with_predictions = false;       // EvalResult::predictions, for predictions_csv()
  // Called once the precision is resolved, before the data is read (the CLI says it there).
  std::function<void(const ResolvedPrecision&)> on_precision;

  // Throws ConfigError naming --limit or --batch-size (as the CLI spells them) for a negative
  // limit or a batch size below 1. evaluate_checkpoint() calls it first.
  void validate() const;
};

struct CheckpointEvaluation {
  TrainConfig config;                    // the checkpoint's, with the options above applied
  std::string model_name;                // resolved, e.g. "wrn-16-4"
  std::vector<std::string> class_names;  // of the evaluated split, in label order
  std::vector<std::string> files;        // image folders: the file of each image, in order; else empty
  std::vector<int64_t> labels;           // the true class of each image, in order
  ResolvedPrecision precision;           // what it ran in, and why
  bool tta = false;                      // whether mirror averaging was on
  EvalResult result;                     // with the confusion matrix and per-class accuracy
};

// Throws FileError for a missing or corrupt checkpoint or data, ConfigError for options the
// run cannot take (a bad limit or batch size, fp16 on a CPU, `optimized` on a CUDA device).
CheckpointEvaluation evaluate_checkpoint(const std::string& path, const CheckpointEvalOptions& options);

// `index,label,predicted[,file]` rows (RFC 4180 quoting) of an evaluation made with
// with_predictions; predicted is -1 for an image skipped by data.on_bad_image skip.
std::string predictions_csv(const CheckpointEvaluation& evaluation);

}  // namespace wrn::train
