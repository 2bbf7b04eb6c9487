// Cutout, Random Erasing, mixup, CutMix and label smoothing (data/regularize.h): the boxes
// against a per-pixel loop, the parameter rules of the papers and torchvision, determinism,
// and the smoothed loss against LibTorch's (= PyTorch's) cross_entropy(label_smoothing).
#include <gtest/gtest.h>
#include <torch/nn/functional/loss.h>
#include <torch/types.h>

#include <cmath>

#include "wrn/core/error.h"
#include "wrn/data/regularize.h"

namespace wrn::data {
namespace {

torch::Generator generator(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

torch::Tensor random_batch(int64_t b, int64_t c, int64_t h, int64_t w, uint64_t seed) {
  auto g = generator(seed);
  return torch::randn({b, c, h, w}, g, torch::kFloat) + 3.0;  // no zeros: erased pixels are exactly 0
}

TEST(Regularize, EraseBoxesMatchesAPixelLoop) {
  auto x = random_batch(3, 2, 7, 9, 1);
  Boxes boxes{torch::tensor({0, 2, 5}), torch::tensor({1, 8, 0}), torch::tensor({3, 2, 0}), torch::tensor({4, 5, 9})};
  auto out = erase_boxes(x, boxes);
  auto expected = x.clone();
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t y = 0; y < 7; ++y)
      for (int64_t xx = 0; xx < 9; ++xx) {
        const int64_t t = boxes.top[i].item<int64_t>(), l = boxes.left[i].item<int64_t>();
        if (y >= t && y < t + boxes.height[i].item<int64_t>() && xx >= l && xx < l + boxes.width[i].item<int64_t>())
          expected[i].select(1, y).select(1, xx).zero_();
      }
  EXPECT_TRUE(torch::equal(out, expected));
  EXPECT_FALSE(torch::equal(out, x));  // the input is left alone
  auto fill = torch::full_like(x, -7.0);
  auto filled = erase_boxes(x, boxes, fill);
  EXPECT_EQ(filled.eq(-7.0).sum().item<int64_t>(), out.eq(0).sum().item<int64_t>());
}

TEST(Regularize, CutoutIsOneClippedSquarePerImage) {
  const int64_t b = 400, h = 32, w = 32, size = 16;
  auto g = generator(3);
  auto out = cutout_batch(random_batch(b, 3, h, w, 2), CutoutOptions{size, 1}, g);
  auto erased = out.eq(0).all(1);  // [B, H, W]
  int64_t full = 0;
  for (int64_t i = 0; i < b; ++i) {
    auto rows = erased[i].any(1), cols = erased[i].any(0);
    const int64_t nh = rows.sum().item<int64_t>(), nw = cols.sum().item<int64_t>();
    ASSERT_GT(nh, 0);
    ASSERT_LE(nh, size);
    ASSERT_LE(nw, size);
    EXPECT_EQ(erased[i].sum().item<int64_t>(), nh * nw) << "image " << i << " is not one rectangle";
    full += nh == size && nw == size;
  }
  // The center is uniform over the image, so squares are clipped at the borders often, not always.
  EXPECT_GT(full, b / 5);
  EXPECT_LT(full, b);
  auto g1 = generator(9), g2 = generator(9);
  auto x = random_batch(8, 1, 12, 12, 4);
  EXPECT_TRUE(torch::equal(cutout_batch(x, {6, 2}, g1), cutout_batch(x, {6, 2}, g2)));
  auto g3 = generator(9);
  EXPECT_TRUE(torch::equal(cutout_batch(x, {0, 1}, g3), x));  // size 0: off
}

TEST(Regularize, RandomErasingFollowsTorchvisionsParameterRules) {
  const int64_t b = 4000, h = 28, w = 28;
  ErasingOptions o;
  o.p = 0.5;
  auto g = generator(5);
  const auto boxes = erasing_boxes(b, h, w, o, g);
  auto area = (boxes.height * boxes.width).to(torch::kDouble) / double(h * w);
  auto erased = boxes.height > 0;
  const double share = erased.to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(share, 0.5, 0.04);  // p, less the rare images where no attempt fits
  auto a = area.masked_select(erased);
  // Rounded sides: the area fraction stays close to [0.02, 0.33].
  EXPECT_GE(a.min().item<double>(), 0.01);
  EXPECT_LE(a.max().item<double>(), 0.36);
  auto ratio = (boxes.height.to(torch::kDouble) / boxes.width.to(torch::kDouble)).masked_select(erased);
  EXPECT_GE(ratio.min().item<double>(), 0.3 * 0.6);
  EXPECT_LE(ratio.max().item<double>(), 3.3 / 0.6);
  EXPECT_TRUE(((boxes.top + boxes.height) <= h).all().item<bool>());
  EXPECT_TRUE(((boxes.left + boxes.width) <= w).all().item<bool>());
  EXPECT_TRUE((boxes.top >= 0).all().item<bool>());
  // Applied: exactly the boxes, zero or noise; p 0: the input itself.
  auto x = random_batch(64, 3, h, w, 6);
  auto g1 = generator(11), g2 = generator(11);
  o.p = 1.0;
  auto out = random_erasing_batch(x, o, g1);
  auto expected = erase_boxes(x, erasing_boxes(64, h, w, o, g2));
  EXPECT_TRUE(torch::equal(out, expected));
  o.random_fill = true;
  auto g3 = generator(11);
  auto noisy = random_erasing_batch(x, o, g3);
  EXPECT_TRUE(torch::equal(noisy.ne(x), out.ne(x)));  // the same pixels, other values
  o.p = 0;
  EXPECT_TRUE(torch::equal(random_erasing_batch(x, o, g3), x));
}

TEST(Regularize, LabelSmoothingEqualsPyTorchsCrossEntropy) {
  auto g = generator(7);
  auto logits = torch::randn({16, 10}, g, torch::kFloat) * 3;
  auto labels = torch::randint(0, 10, {16}, g, torch::kLong);
  namespace F = torch::nn::functional;
  for (double s : {0.0, 0.1, 0.3}) {
    auto ours = soft_target_cross_entropy(logits, smooth_targets(labels, 10, s));
    auto torch_loss = F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().label_smoothing(s));
    EXPECT_NEAR(ours.item<double>(), torch_loss.item<double>(), 1e-5) << "smoothing " << s;
  }
  // By hand for one row: -(0.9 + 0.1/4) log p_y - sum_{k != y} 0.1/4 log p_k.
  auto l = torch::tensor({{1.0f, 2.0f, 0.5f, -1.0f}});
  auto p = torch::softmax(l, 1)[0];
  double hand = 0;
  for (int k = 0; k < 4; ++k) hand -= (k == 1 ? 0.925 : 0.025) * std::log(p[k].item<double>());
  EXPECT_NEAR(soft_target_cross_entropy(l, smooth_targets(torch::tensor({1L}), 4, 0.1)).item<double>(), hand, 1e-6);
  EXPECT_THROW(smooth_targets(labels, 10, 1.0), ConfigError);
}

TEST(Regularize, MixupBlendsTheBatchWithItsReverse) {
  auto x = random_batch(6, 1, 5, 5, 8);
  auto labels = torch::tensor({0L, 1L, 2L, 0L, 1L, 2L});
  MixOptions o;
  o.mixup_alpha = 0.4;
  auto g = generator(12);
  auto m = mix_batch(x, labels, 3, 0.0, o, g);
  ASSERT_GT(m.lam, 0.0);
  ASSERT_LT(m.lam, 1.0);
  EXPECT_TRUE(torch::allclose(m.images, x * m.lam + x.flip(0) * (1 - m.lam)));
  auto onehot = smooth_targets(labels, 3, 0.0);
  EXPECT_TRUE(torch::allclose(m.targets, onehot * m.lam + onehot.flip(0) * (1 - m.lam)));
  EXPECT_TRUE(torch::allclose(m.targets.sum(1), torch::ones({6})));
  // Deterministic from the generator; prob 0 leaves the batch alone but still draws.
  auto g1 = generator(12);
  EXPECT_TRUE(torch::equal(mix_batch(x, labels, 3, 0.0, o, g1).images, m.images));
  o.prob = 0;
  auto g2 = generator(12);
  auto same = mix_batch(x, labels, 3, 0.1, o, g2);
  EXPECT_TRUE(torch::equal(same.images, x));
  EXPECT_TRUE(torch::allclose(same.targets, smooth_targets(labels, 3, 0.1)));
  EXPECT_TRUE(torch::equal(g.get_state(), g2.get_state()));  // the same draws either way
}

TEST(Regularize, CutMixPastesABoxAndWeighsByItsArea) {
  auto x = random_batch(4, 2, 16, 16, 13);
  auto labels = torch::tensor({0L, 1L, 2L, 3L});
  MixOptions o;
  o.cutmix_alpha = 1.0;
  int pasted = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    auto g = generator(seed);
    auto m = mix_batch(x, labels, 4, 0.0, o, g);
    auto from_other = m.images.ne(x).any(1);  // [B, H, W]: pixels taken from the reversed batch
    const double share = from_other[0].to(torch::kDouble).mean().item<double>();
    EXPECT_NEAR(1.0 - m.lam, share, 1e-9) << "lam is the kept area";
    EXPECT_TRUE(torch::equal(m.images.masked_select(from_other.unsqueeze(1).expand_as(x)),
                             x.flip(0).masked_select(from_other.unsqueeze(1).expand_as(x))));
    EXPECT_NEAR(m.targets[0][0].item<double>(), m.lam, 1e-6);
    EXPECT_NEAR(m.targets[0][3].item<double>(), 1 - m.lam, 1e-6);
    pasted += share > 0;
  }
  EXPECT_GT(pasted, 10);
}

}  // namespace
}  // namespace wrn::data
