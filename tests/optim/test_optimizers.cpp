// AdamW and SGD's no-decay group against LibTorch's own optimizers with two parameter groups
// (the same arithmetic as torch.optim), gradient-norm clipping against its formula, and the
// weight average against a hand computation.
#include <gtest/gtest.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/types.h>

#include <cmath>

#include "wrn/core/error.h"
#include "wrn/optim/adamw.h"
#include "wrn/optim/sgd.h"
#include "wrn/optim/weight_average.h"

namespace wrn::train {
namespace {

torch::nn::Sequential tiny_model(uint64_t seed) {
  torch::manual_seed(seed);
  return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 3, 3).bias(false)),
                               torch::nn::BatchNorm2d(3), torch::nn::Flatten(), torch::nn::Linear(3 * 4 * 4, 5));
}

// Deterministic fake gradients for step k.
void set_grads(const std::vector<torch::Tensor>& params, int k) {
  for (size_t i = 0; i < params.size(); ++i) {
    auto g = at::detail::createCPUGenerator(100 * k + i);
    params[i].mutable_grad() = torch::randn(params[i].sizes(), g, torch::kFloat);
  }
}

// LibTorch's optimizer over two groups: tensors with 2+ dims decayed, vectors not.
template <class Opt, class Options>
std::vector<torch::Tensor> reference_run(const Options& decayed, Options undecayed, int steps, bool split) {
  auto model = tiny_model(1);
  std::vector<torch::Tensor> all = model->parameters(), matrices, vectors;
  for (auto& p : all) (p.dim() >= 2 ? matrices : vectors).push_back(p);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (split) {
    groups.emplace_back(matrices, std::make_unique<Options>(decayed));
    groups.emplace_back(vectors, std::make_unique<Options>(undecayed));
  } else {
    groups.emplace_back(all, std::make_unique<Options>(decayed));
  }
  Opt opt(groups, decayed);
  for (int k = 0; k < steps; ++k) {
    set_grads(all, k);
    opt.step();
  }
  std::vector<torch::Tensor> out;
  for (auto& p : all) out.push_back(p.detach().clone());
  return out;
}

std::vector<torch::Tensor> flat_run(FlatOptimizer& opt, FlatParameters& flat, int steps, double lr) {
  for (int k = 0; k < steps; ++k) {
    set_grads(flat.parameters(), k);
    // set_grads replaced the .grad tensors; copy them into the flat buffer the optimizer reads.
    int64_t offset = 0;
    for (auto& p : flat.parameters()) {
      flat.grads().narrow(0, offset, p.numel()).copy_(p.grad().reshape({-1}));
      offset += p.numel();
    }
    opt.step(lr);
  }
  std::vector<torch::Tensor> out;
  for (auto& p : flat.parameters()) out.push_back(p.detach().clone());
  return out;
}

void expect_close(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_LE((a[i] - b[i]).abs().max().item<double>(), tol) << "parameter " << i;
}

TEST(Optimizers, AdamWEqualsLibTorchsAdamWWithAndWithoutTheNoDecayGroup) {
  for (bool split : {false, true}) {
    auto decayed = torch::optim::AdamWOptions(0.01).betas({0.9, 0.99}).eps(1e-7).weight_decay(0.1);
    auto undecayed = decayed;
    undecayed.weight_decay(0);
    const auto expected = reference_run<torch::optim::AdamW>(decayed, undecayed, 6, split);
    auto model = tiny_model(1);
    FlatParameters flat(*model);
    AdamWOptions o;
    o.beta1 = 0.9;
    o.beta2 = 0.99;
    o.eps = 1e-7;
    o.weight_decay = 0.1;
    AdamW opt(flat, o);
    if (split) opt.set_decay_mask(flat.decay_mask_without_vectors());
    expect_close(flat_run(opt, flat, 6, 0.01), expected, 2e-7);
    EXPECT_EQ(opt.steps(), 6);
  }
}

TEST(Optimizers, SgdNoDecayGroupEqualsLibTorchsSgdWithTwoGroups) {
  auto decayed = torch::optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(5e-3);
  auto undecayed = decayed;
  undecayed.weight_decay(0);
  const auto expected = reference_run<torch::optim::SGD>(decayed, undecayed, 5, true);
  auto model = tiny_model(1);
  FlatParameters flat(*model);
  SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.nesterov = true;
  o.weight_decay = 5e-3;
  Sgd opt(flat, o);
  opt.set_decay_mask(flat.decay_mask_without_vectors());
  expect_close(flat_run(opt, flat, 5, 0.1), expected, 2e-7);
  // The mask marks exactly the vectors (BatchNorm weight and bias, the linear bias).
  auto mask = flat.decay_mask_without_vectors();
  int64_t vectors = 0;
  for (auto& p : flat.parameters()) vectors += p.dim() <= 1 ? p.numel() : 0;
  EXPECT_EQ(mask.numel() - mask.sum().item<int64_t>(), vectors);
}

TEST(Optimizers, AdamWStateRoundTripsAndRejectsAnotherSize) {
  auto model = tiny_model(2);
  FlatParameters flat(*model);
  AdamW a(flat, AdamWOptions{});
  flat_run(a, flat, 2, 1e-3);
  auto state = a.state();
  AdamW b(flat, AdamWOptions{});
  b.load_state(state);
  EXPECT_EQ(b.steps(), 2);
  auto small = torch::zeros({3}), small_grad = torch::zeros({3});
  AdamW c(small, small_grad, AdamWOptions{});
  EXPECT_THROW(c.load_state(state), FileError);
  AdamWOptions bad;
  bad.beta2 = 1.0;
  EXPECT_THROW(bad.validate(), ConfigError);
}

TEST(Optimizers, ClipGradNormScalesToTheLimitOnlyAboveIt) {
  auto g = torch::tensor({3.0f, 4.0f});  // norm 5
  clip_grad_norm(g, 1.0);
  EXPECT_NEAR(g[0].item<double>(), 3.0 / (5 + 1e-6), 1e-6);
  EXPECT_NEAR(g.norm().item<double>(), 1.0, 1e-5);
  auto h = torch::tensor({0.3f, 0.4f});
  clip_grad_norm(h, 1.0);
  EXPECT_TRUE(torch::equal(h, torch::tensor({0.3f, 0.4f})));
}

TEST(WeightAverage, UpdatesAsTheHandComputationSays) {
  auto params = torch::tensor({1.0, 2.0}, torch::kDouble);
  auto running = torch::tensor({0.5}, torch::kDouble);
  auto count = torch::tensor({3L});
  EmaConfig cfg;
  cfg.decay = 0.9;
  cfg.warmup = true;
  WeightAverage ema(params, {running, count}, cfg);
  // Warm-up decays: min(0.9, 1/10), min(0.9, 2/11), ...
  EXPECT_DOUBLE_EQ(ema.decay_at(0), 0.1);
  EXPECT_DOUBLE_EQ(ema.decay_at(1), 2.0 / 11);
  EXPECT_DOUBLE_EQ(ema.decay_at(1000), 0.9);
  double a0 = 1, a1 = 2, ar = 0.5;
  for (int t = 0; t < 3; ++t) {
    params.add_(1.0);
    running.mul_(2);
    count.add_(1);
    ema.update();
    const double d = std::min(0.9, (1.0 + t) / (10.0 + t));
    a0 = d * a0 + (1 - d) * params[0].item<double>();
    a1 = d * a1 + (1 - d) * params[1].item<double>();
    ar = d * ar + (1 - d) * running[0].item<double>();
  }
  EXPECT_EQ(ema.updates(), 3);
  {
    AverageScope average(ema);  // the model's tensors hold the average
    EXPECT_NEAR(params[0].item<double>(), a0, 1e-12);
    EXPECT_NEAR(params[1].item<double>(), a1, 1e-12);
    EXPECT_NEAR(running[0].item<double>(), ar, 1e-12);
    EXPECT_EQ(count.item<int64_t>(), 6);  // integer buffers are copied, not averaged
  }
  EXPECT_DOUBLE_EQ(params[0].item<double>(), 4.0);  // and the trained values again after the scope
  EXPECT_DOUBLE_EQ(running[0].item<double>(), 4.0);
  cfg.warmup = false;
  EXPECT_DOUBLE_EQ(WeightAverage(params, {}, cfg).decay_at(0), 0.9);
  cfg.decay = 1.0;
  EXPECT_THROW(WeightAverage(params, {}, cfg), ConfigError);
}

}  // namespace
}  // namespace wrn::train
