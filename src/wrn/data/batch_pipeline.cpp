#include "wrn/data/batch_pipeline.h"

#include <fmt/format.h>

#include "wrn/data/auto_augment.h"

namespace wrn::data {

BatchPipeline::BatchPipeline(const Options& o, const Normalizer& normalizer) {
  AugmentOptions crop = o.augment;
  if (o.train_transform != TrainTransform::PadCrop) crop.pad = 0;                 // none: flip only
  if (o.train_transform == TrainTransform::RandomResizedCrop) crop.flip = false;  // drawn per sample
  add([crop](TrainBatch& b, torch::Generator& g) { b.images = augment_batch(b.images, crop, g); });
  const auto& policy = o.augment.policy;
  std::string policy_text;
  if (policy.kind == AutoAugmentKind::TrivialAugmentWide) policy_text = "TrivialAugment-Wide";
  if (policy.kind == AutoAugmentKind::RandAugment)
    policy_text = fmt::format("RandAugment ({} ops at magnitude {} of {})", policy.num_ops, policy.magnitude,
                              policy.num_magnitude_bins);
  add([policy](TrainBatch& b, torch::Generator& g) { b.images = auto_augment_batch(b.images, policy, g); },
      policy_text);
  add([&normalizer](TrainBatch& b, torch::Generator&) { b.images = normalizer(b.images); });
  const auto cutout = o.augment.cutout;
  add([cutout](TrainBatch& b, torch::Generator& g) { b.images = cutout_batch(b.images, cutout, g); },
      cutout.size > 0 ? fmt::format("cutout {} x {}px", cutout.holes, cutout.size) : "");
  const auto erasing = o.augment.erasing;
  add([erasing](TrainBatch& b, torch::Generator& g) { b.images = random_erasing_batch(b.images, erasing, g); },
      erasing.p > 0 ? fmt::format("random erasing p {:g}", erasing.p) : "");
  if (o.mix.enabled()) {
    const auto mix = o.mix;
    const int64_t classes = o.classes;
    const double smoothing = o.label_smoothing;
    add([mix, classes, smoothing](TrainBatch& b, torch::Generator& g) {
      auto mixed = mix_batch(b.images, b.labels, classes, smoothing, mix, g);
      b.images = mixed.images;
      b.targets = mixed.targets;
    });
    if (mix.mixup_alpha > 0) extras_.push_back(fmt::format("mixup alpha {:g}", mix.mixup_alpha));
    if (mix.cutmix_alpha > 0) extras_.push_back(fmt::format("cutmix alpha {:g}", mix.cutmix_alpha));
    if (mix.prob < 1) extras_.back() += fmt::format(" (batches mixed with p {:g})", mix.prob);
  }
}

void BatchPipeline::add(Stage stage, std::string extra) {
  stages_.push_back(std::move(stage));
  if (!extra.empty()) extras_.push_back(std::move(extra));
}

TrainBatch BatchPipeline::operator()(TrainBatch batch, torch::Generator& generator) const {
  for (const auto& stage : stages_) stage(batch, generator);
  return batch;
}

}  // namespace wrn::data
