// The training batch pipeline: every per-batch augmentation of a run, composed once from its
// options, in the order the engine applies them:
//   uint8:  random crop (pad) and horizontal flip -> TrivialAugment / RandAugment
//   float:  normalization -> cutout -> random erasing -> mixup / CutMix (soft targets)
// Each stage draws from the one generator it is given, in this order, so a run's batches
// depend only on that generator's state (exact resume).
//
// Adding a batch augmentation (docs/recipes.md): the op in regularize.h (or augment.h), its
// options in AugmentOptions or MixOptions (and a row in config/config.cpp), and one stage in
// BatchPipeline's constructor (batch_pipeline.cpp), which also names it for the start-up lines.
#pragma once

#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

#include "wrn/data/augment.h"
#include "wrn/data/preprocessing.h"
#include "wrn/data/regularize.h"

namespace wrn::data {

// One batch on its way through the pipeline.
struct TrainBatch {
  torch::Tensor images;   // uint8 [B, C, H, W] in; float (normalized) out
  torch::Tensor labels;   // int64 [B]
  torch::Tensor targets;  // float [B, K] soft targets when batches are mixed; else undefined
};

class BatchPipeline {
 public:
  struct Options {
    AugmentOptions augment;
    TrainTransform train_transform = TrainTransform::PadCrop;  // pad_crop keeps the crop; none and
                                                               // random_resized_crop (per sample) drop it
    MixOptions mix;
    int64_t classes = 0;           // for mixed soft targets
    double label_smoothing = 0;    // of mixed soft targets
  };

  BatchPipeline() = default;
  // `normalizer` must outlive the pipeline (it is applied by reference).
  BatchPipeline(const Options& options, const Normalizer& normalizer);

  // Runs every stage on `batch` (its images uint8), drawing from `generator`.
  TrainBatch operator()(TrainBatch batch, torch::Generator& generator) const;

  // What the stages beyond the papers' crop and flip do, one phrase each, in order
  // ("TrivialAugment-Wide", "cutout 1 x 16px", ...): the run's start-up "recipe" line.
  const std::vector<std::string>& extras() const { return extras_; }

 private:
  using Stage = std::function<void(TrainBatch&, torch::Generator&)>;
  void add(Stage stage, std::string extra = "");

  std::vector<Stage> stages_;
  std::vector<std::string> extras_;
};

}  // namespace wrn::data
