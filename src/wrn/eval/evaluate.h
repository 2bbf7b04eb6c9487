// Evaluation: a model's test-set numbers (loss, top-1/top-5 error, confusion matrix, per-image
// predictions) over a split in memory or streamed, with any forward (the training model, or
// the BN-folded infer::FusedClassifier).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "wrn/data/batch_loader.h"
#include "wrn/data/dataset.h"
#include "wrn/data/preprocessing.h"
#include "wrn/data/split_data.h"
#include "wrn/models/registry.h"

namespace wrn::train {

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
  // (file, one-line error) of each image of the split left out because it could not be read
  // (data.on_bad_image skip): the split evaluations list them, so "80 images" hides none.
  std::vector<std::pair<std::string, std::string>> skipped;
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

}  // namespace wrn::train
