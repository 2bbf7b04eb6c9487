// Test-time augmentation (EvalOptions::tta_flip, `wrn eval --tta`): the loss and errors are
// those of the mean of each image's and its mirror image's class probabilities.
#include <gtest/gtest.h>
#include <torch/types.h>

#include <cmath>

#include "wrn/eval/evaluate.h"

namespace wrn::train {
namespace {

TEST(EvalTta, AveragesTheProbabilitiesOfEachImageAndItsMirror) {
  auto g = at::detail::createCPUGenerator(3);
  data::Dataset d;
  d.images = torch::randint(0, 256, {10, 1, 4, 4}, g, torch::kUInt8);
  d.labels = torch::randint(0, 3, {10}, g, torch::kLong);
  d.class_names = {"a", "b", "c"};
  data::NormalizeOptions no;
  no.mean = {128};
  no.std = {64};
  const auto normalizer = data::Normalizer::fit(d, no);
  auto w = torch::randn({16, 3}, g, torch::kFloat);
  ForwardFn forward = [&](const torch::Tensor& x) { return x.reshape({x.size(0), -1}).matmul(w); };  // not mirror-symmetric
  EvalOptions eo;
  eo.batch_size = 4;
  const auto plain = evaluate(forward, 3, d, normalizer, eo);
  eo.tta_flip = true;
  const auto tta = evaluate(forward, 3, d, normalizer, eo);

  auto x = normalizer(d.images);
  auto p = (torch::softmax(forward(x), 1) + torch::softmax(forward(x.flip(3)), 1)) / 2;
  const double loss = -p.gather(1, d.labels.view({-1, 1})).log().mean().item<double>();
  const double err = 100.0 * (1.0 - p.argmax(1).eq(d.labels).to(torch::kDouble).mean().item<double>());
  EXPECT_NEAR(tta.loss, loss, 1e-5);
  EXPECT_NEAR(tta.top1_err, err, 1e-9);
  EXPECT_GT(std::abs(tta.loss - plain.loss), 1e-4) << "the mirror images must change the result here";
}

}  // namespace
}  // namespace wrn::train
