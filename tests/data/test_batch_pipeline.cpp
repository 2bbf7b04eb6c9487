// The batch pipeline (data/batch_pipeline.h) is the hand-written sequence of the batch
// augmentations, in the same order on the same generator: crop + flip, TrivialAugment /
// RandAugment, normalization, cutout, random erasing, mixup / CutMix. Exact resume and the
// engine's golden behaviour depend on that order.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include "wrn/data/auto_augment.h"
#include "wrn/data/batch_pipeline.h"

using namespace wrn::data;

namespace {

torch::Tensor images(int64_t n) {
  torch::manual_seed(3);
  return torch::randint(0, 256, {n, 3, 16, 16}, torch::kUInt8);
}

BatchPipeline::Options everything_on() {
  BatchPipeline::Options o;
  o.augment.pad = 2;
  o.augment.policy.kind = AutoAugmentKind::TrivialAugmentWide;
  o.augment.cutout.size = 4;
  o.augment.erasing.p = 0.5;
  o.mix.mixup_alpha = 0.2;
  o.mix.cutmix_alpha = 1.0;
  o.classes = 10;
  o.label_smoothing = 0.1;
  return o;
}

}  // namespace

TEST(BatchPipeline, EqualsTheOpsCalledInOrderOnOneGenerator) {
  const auto o = everything_on();
  const auto x = images(8);
  const auto labels = torch::arange(8, torch::kLong) % 10;
  NormalizeOptions no;
  no.mean = {120, 110, 100};
  no.std = {60, 55, 50};
  const auto normalizer = Normalizer::fit(Dataset{"test", x, labels, {}}, no);

  auto g1 = at::make_generator<at::CPUGeneratorImpl>(7);
  const auto out = BatchPipeline(o, normalizer)({x, labels, {}}, g1);

  auto g2 = at::make_generator<at::CPUGeneratorImpl>(7);
  auto y = augment_batch(x, o.augment, g2);
  y = auto_augment_batch(y, o.augment.policy, g2);
  y = normalizer(y);
  y = cutout_batch(y, o.augment.cutout, g2);
  y = random_erasing_batch(y, o.augment.erasing, g2);
  const auto mixed = mix_batch(y, labels, o.classes, o.label_smoothing, o.mix, g2);

  EXPECT_TRUE(torch::equal(out.images, mixed.images));
  ASSERT_TRUE(out.targets.defined());
  EXPECT_TRUE(torch::equal(out.targets, mixed.targets));
  EXPECT_TRUE(torch::equal(g1.get_state(), g2.get_state()));  // the same draws, no more
}

TEST(BatchPipeline, TheTrainTransformDecidesTheCropAndFlip) {
  const auto x = images(4);
  const auto labels = torch::zeros({4}, torch::kLong);
  const Normalizer identity = Normalizer::fit(Dataset{"test", x, labels, {}}, NormalizeOptions{{0, 0, 0}, {1, 1, 1}, false, 1e-2});
  BatchPipeline::Options o;
  o.augment.pad = 4;
  o.augment.flip = true;
  // random_resized_crop draws its crop and flip per sample in the loader: the batch stage is the identity.
  o.train_transform = TrainTransform::RandomResizedCrop;
  auto g = at::make_generator<at::CPUGeneratorImpl>(1);
  const auto before = g.get_state();
  const auto out = BatchPipeline(o, identity)({x, labels, {}}, g);
  EXPECT_TRUE(torch::equal(out.images, x.to(torch::kFloat)));
  EXPECT_TRUE(torch::equal(g.get_state(), before));
  EXPECT_FALSE(out.targets.defined());
  EXPECT_TRUE(BatchPipeline(o, identity).extras().empty());
}

TEST(BatchPipeline, ExtrasNameTheStagesBeyondThePapers) {
  const Normalizer n;
  const auto extras = BatchPipeline(everything_on(), n).extras();
  const std::vector<std::string> want{"TrivialAugment-Wide", "cutout 1 x 4px", "random erasing p 0.5",
                                      "mixup alpha 0.2", "cutmix alpha 1"};
  EXPECT_EQ(extras, want);
}
