// The fused BatchNorm+ReLU kernels against ATen's unfused ops (batch_norm, relu, autograd):
// forward, batch statistics, running statistics and every gradient, fp32 and bf16, NCHW and
// channels_last, shapes with vector tails; determinism over thread counts; NaN propagation;
// the inference kernel (evaluation BatchNorm+ReLU); and the models'
// batch_norm_relu with fusion on and off, alone and in a WRN training step.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <tuple>

#include "wrn/kernels/batch_norm_relu.h"
#include "wrn/models/batch_norm.h"
#include "wrn/models/registry.h"

namespace {

using wrn::kernels::batch_norm_relu_backward;
using wrn::kernels::batch_norm_relu_forward;

constexpr double kMomentum = 0.1, kEps = 1e-5;

// max |a - b| / max(max |b|, 1e-6): one number per tensor, so that a few ulps on a value near 0
// are not read as a large relative error.
double rel_max(const torch::Tensor& a, const torch::Tensor& b) {
  const auto af = a.to(torch::kDouble), bf = b.to(torch::kDouble);
  const double scale = std::max(bf.abs().max().item<double>(), 1e-6);
  return (af - bf).abs().max().item<double>() / scale;
}

struct Case {
  std::vector<int64_t> shape;
  torch::ScalarType dtype;
  bool channels_last;
  std::string name() const {
    std::string s = dtype == torch::kFloat ? "fp32" : "bf16";
    for (auto v : shape) s += "_" + std::to_string(v);
    return s + (channels_last ? "_nhwc" : "_nchw");
  }
};

struct Tensors {
  torch::Tensor x, w, b, rm, rv, dy;
};

Tensors make_tensors(const Case& c, uint64_t seed) {
  torch::manual_seed(seed);
  const int64_t ch = c.shape[1];
  Tensors t;
  t.x = (torch::randn(c.shape) * 2 + 0.3).to(c.dtype);
  t.dy = torch::randn(c.shape).to(c.dtype);
  if (c.channels_last) {
    t.x = t.x.contiguous(at::MemoryFormat::ChannelsLast);
    t.dy = t.dy.contiguous(at::MemoryFormat::ChannelsLast);
  }
  t.w = torch::rand({ch}) + 0.5;
  t.b = torch::randn({ch}) * 0.5;
  t.rm = torch::randn({ch});
  t.rv = torch::rand({ch}) + 0.5;
  return t;
}

class FusedAgainstAten : public testing::TestWithParam<Case> {};

TEST_P(FusedAgainstAten, ForwardStatisticsAndGradients) {
  const Case c = GetParam();
  const bool bf16 = c.dtype == torch::kBFloat16;
  auto t = make_tensors(c, 7);

  // Reference: ATen's batch_norm (training) then relu, with autograd.
  auto x_ref = t.x.detach().clone().requires_grad_(true);
  auto w_ref = t.w.clone().requires_grad_(true), b_ref = t.b.clone().requires_grad_(true);
  auto rm_ref = t.rm.clone(), rv_ref = t.rv.clone();
  auto y_ref = torch::relu(torch::batch_norm(x_ref, w_ref, b_ref, rm_ref, rv_ref, true, kMomentum, kEps, false));
  auto grads = torch::autograd::grad({y_ref}, {x_ref, w_ref, b_ref}, {t.dy});
  auto stats = at::native_batch_norm(t.x, t.w, t.b, {}, {}, true, kMomentum, kEps);

  auto rm = t.rm.clone(), rv = t.rv.clone();
  auto f = batch_norm_relu_forward(t.x, t.w, t.b, rm, rv, kMomentum, kEps);
  EXPECT_EQ(f.y.scalar_type(), c.dtype);
  EXPECT_EQ(f.y.sizes(), t.x.sizes());
  EXPECT_TRUE(f.x.is_same(t.x));  // walked as it is
  EXPECT_EQ(f.y.is_contiguous(at::MemoryFormat::ChannelsLast), t.x.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_LT(rel_max(f.mean, std::get<1>(stats)), 1e-6);
  EXPECT_LT(rel_max(f.invstd, std::get<2>(stats)), 1e-6);
  EXPECT_LT(rel_max(rm, rm_ref), 1e-6);
  EXPECT_LT(rel_max(rv, rv_ref), 1e-6);
  // bf16: both sides compute in float and round once; a last-bit difference in float may
  // round the other way, one bf16 step (2^-8 relative).
  EXPECT_LT(rel_max(f.y, y_ref.detach()), bf16 ? 8e-3 : 1e-5);
  EXPECT_TRUE(torch::equal(f.y.to(torch::kFloat) > 0, y_ref.detach().to(torch::kFloat) > 0) || bf16);

  auto g = batch_norm_relu_backward(t.dy, t.x, f.y, f.mean, f.invstd, t.w);
  EXPECT_EQ(g.dx.scalar_type(), c.dtype);
  EXPECT_LT(rel_max(g.dx, grads[0]), bf16 ? 2e-2 : 1e-4);
  EXPECT_LT(rel_max(g.dweight, grads[1]), bf16 ? 1e-2 : 1e-4);
  EXPECT_LT(rel_max(g.dbias, grads[2]), bf16 ? 1e-2 : 1e-4);
}

// relu(batch_norm(x) + r), the post-activation ResNet block's end, against ATen's three ops:
// y, and the gradients of x, r, weight and bias; the residual in x's layout and in the other.
TEST_P(FusedAgainstAten, WithResidualForwardAndGradients) {
  const Case c = GetParam();
  const bool bf16 = c.dtype == torch::kBFloat16;
  auto t = make_tensors(c, 9);
  for (bool same_layout : {true, false}) {
    auto r = (torch::randn(c.shape) * 1.5).to(c.dtype);
    if (c.channels_last == same_layout) r = r.contiguous(at::MemoryFormat::ChannelsLast);
    auto x_ref = t.x.detach().clone().requires_grad_(true), r_ref = r.detach().clone().requires_grad_(true);
    auto w_ref = t.w.clone().requires_grad_(true), b_ref = t.b.clone().requires_grad_(true);
    auto rm_ref = t.rm.clone(), rv_ref = t.rv.clone();
    auto y_ref =
        torch::relu(torch::batch_norm(x_ref, w_ref, b_ref, rm_ref, rv_ref, true, kMomentum, kEps, false) + r_ref);
    auto grads = torch::autograd::grad({y_ref}, {x_ref, r_ref, w_ref, b_ref}, {t.dy});

    auto rm = t.rm.clone(), rv = t.rv.clone();
    auto f = batch_norm_relu_forward(t.x, t.w, t.b, rm, rv, kMomentum, kEps, r);
    EXPECT_EQ(f.y.is_contiguous(at::MemoryFormat::ChannelsLast), t.x.is_contiguous(at::MemoryFormat::ChannelsLast));
    EXPECT_LT(rel_max(rm, rm_ref), 1e-6);
    EXPECT_LT(rel_max(rv, rv_ref), 1e-6);
    EXPECT_LT(rel_max(f.y, y_ref.detach()), bf16 ? 8e-3 : 1e-5) << "same layout " << same_layout;
    const bool same_mask = torch::equal(f.y.to(torch::kFloat) > 0, y_ref.detach().to(torch::kFloat) > 0);
    EXPECT_TRUE(same_mask || bf16);

    auto g = batch_norm_relu_backward(t.dy, t.x, f.y, f.mean, f.invstd, t.w, /*with_residual=*/true);
    ASSERT_TRUE(g.dresidual.defined());
    EXPECT_EQ(g.dresidual.scalar_type(), c.dtype);
    EXPECT_LT(rel_max(g.dx, grads[0]), bf16 ? 2e-2 : 1e-4);
    // The residual's gradient is the masked dy itself: exact wherever the masks agree.
    if (same_mask) {
      EXPECT_TRUE(torch::equal(g.dresidual.contiguous(), grads[1].contiguous()));
    }
    EXPECT_LT(rel_max(g.dresidual, grads[1]), bf16 ? 2e-2 : 1e-6);
    EXPECT_LT(rel_max(g.dweight, grads[2]), bf16 ? 1e-2 : 1e-4);
    EXPECT_LT(rel_max(g.dbias, grads[3]), bf16 ? 1e-2 : 1e-4);
    EXPECT_FALSE(batch_norm_relu_backward(t.dy, t.x, f.y, f.mean, f.invstd, t.w).dresidual.defined());
  }
}

// The inference kernel of the optimized path (infer/fused_model.h) against ATen's evaluation
// BatchNorm then relu, in place and into a new tensor.
TEST_P(FusedAgainstAten, InferenceBatchNormRelu) {
  const Case c = GetParam();
  const bool bf16 = c.dtype == torch::kBFloat16;
  auto t = make_tensors(c, 11);
  const auto ref = torch::relu(torch::batch_norm(t.x, t.w, t.b, t.rm, t.rv, false, 0.0, kEps, false));
  for (bool in_place : {false, true}) {
    auto x = t.x.clone();  // keeps the layout
    auto y = wrn::kernels::batch_norm_relu_inference(x, t.w, t.b, t.rm, t.rv, kEps, in_place);
    EXPECT_EQ(y.is_same(x), in_place);
    EXPECT_EQ(y.scalar_type(), c.dtype);
    EXPECT_EQ(y.is_contiguous(at::MemoryFormat::ChannelsLast),
              t.x.is_contiguous(at::MemoryFormat::ChannelsLast));
    // alpha and beta as ATen's; the float product and sum may be fused (FMA) on one side only.
    EXPECT_LT(rel_max(y, ref), bf16 ? 8e-3 : 1e-6) << "in place " << in_place;
    if (!in_place) {
      EXPECT_TRUE(torch::equal(x, t.x));
    }
  }
}

std::vector<Case> cases() {
  std::vector<Case> out;
  const std::vector<std::vector<int64_t>> shapes = {
      {3, 5, 7, 9},     // tails everywhere (HW 63, C 5)
      {4, 32, 8, 8},    // whole vectors
      {2, 20, 17, 3},   // channels_last tail (20 = 16 + 4)
      {65, 16, 3, 3},   // more rows than a block (channels_last: 585 rows)
      {2, 8, 1, 1},     // N*H*W = 2
      {2, 3, 40, 40},   // planes longer than a float chunk (1600 > 1024)
  };
  for (const auto& s : shapes)
    for (auto dtype : {torch::kFloat, torch::kBFloat16})
      for (bool cl : {false, true}) out.push_back({s, dtype, cl});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Shapes, FusedAgainstAten, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<Case>& info) { return info.param.name(); });

// The same bits whatever the thread count (fixed blocks, reduced in a fixed order).
TEST(FusedBatchNormRelu, SameBitsForOneAndTwoThreads) {
  const int before = at::get_num_threads();
  for (bool cl : {false, true}) {
    const Case c{{16, 24, 12, 12}, torch::kFloat, cl};
    auto t = make_tensors(c, 3);
    auto run = [&](int threads) {
      at::set_num_threads(threads);
      auto rm = t.rm.clone(), rv = t.rv.clone();
      auto f = batch_norm_relu_forward(t.x, t.w, t.b, rm, rv, kMomentum, kEps);
      auto g = batch_norm_relu_backward(t.dy, t.x, f.y, f.mean, f.invstd, t.w);
      return std::vector<torch::Tensor>{f.y, f.mean, f.invstd, rm, rv, g.dx, g.dweight, g.dbias};
    };
    const auto one = run(1), two = run(2);
    for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(torch::equal(one[i], two[i])) << "tensor " << i << " cl " << cl;
  }
  at::set_num_threads(before);
}

// A NaN in a channel makes that channel's output NaN, as batch_norm + relu do (the trainer's
// divergence check reads the loss); the other channels are untouched.
TEST(FusedBatchNormRelu, NanPropagatesLikeTheUnfusedOps) {
  const Case c{{2, 3, 4, 4}, torch::kFloat, false};
  auto t = make_tensors(c, 5);
  t.x.index_put_({1, 0, 2, 2}, std::nan(""));
  auto f = batch_norm_relu_forward(t.x, t.w, t.b, {}, {}, kMomentum, kEps);
  auto ref = torch::relu(torch::batch_norm(t.x, t.w, t.b, {}, {}, true, kMomentum, kEps, false));
  EXPECT_TRUE(f.y.select(1, 0).isnan().all().item<bool>());
  EXPECT_EQ(f.y.isnan().sum().item<int64_t>(), ref.isnan().sum().item<int64_t>());
  EXPECT_LT(rel_max(f.y.select(1, 1), ref.select(1, 1)), 1e-5);
}

TEST(FusedBatchNormRelu, SupportedOnlyForWhatTheLoopsWalk) {
  auto w = torch::ones({4}), b = torch::zeros({4});
  EXPECT_TRUE(wrn::kernels::batch_norm_relu_supported(torch::randn({2, 4, 3, 3}), w, b));
  EXPECT_TRUE(wrn::kernels::batch_norm_relu_supported(torch::randn({2, 4, 3, 3}).to(torch::kBFloat16), w, b));
  EXPECT_FALSE(wrn::kernels::batch_norm_relu_supported(torch::randn({2, 4, 3, 3}).to(torch::kDouble), w, b));
  EXPECT_FALSE(wrn::kernels::batch_norm_relu_supported(torch::randn({2, 4, 3}), w, b));
  EXPECT_FALSE(wrn::kernels::batch_norm_relu_supported(torch::randn({1, 4, 1, 1}), w, b));  // one value a channel
  EXPECT_FALSE(wrn::kernels::batch_norm_relu_supported(torch::randn({2, 4, 3, 3}), torch::ones({5}), b));
  EXPECT_FALSE(wrn::kernels::batch_norm_relu_supported(torch::randn({2, 4, 3, 3}), w.to(torch::kBFloat16), b));
  // A residual of x's shape and dtype, in either layout; not another shape or dtype.
  const auto x = torch::randn({2, 4, 3, 3});
  EXPECT_TRUE(wrn::kernels::batch_norm_relu_supported(x, w, b, torch::randn({2, 4, 3, 3})));
  EXPECT_TRUE(wrn::kernels::batch_norm_relu_supported(
      x, w, b, torch::randn({2, 4, 3, 3}).contiguous(at::MemoryFormat::ChannelsLast)));
  EXPECT_FALSE(wrn::kernels::batch_norm_relu_supported(x, w, b, torch::randn({2, 4, 3, 1})));
  EXPECT_FALSE(wrn::kernels::batch_norm_relu_supported(x, w, b, torch::randn({2, 4, 3, 3}).to(torch::kBFloat16)));
  // Inference: any N*H*W, the running statistics float [C], only the two walked layouts.
  using wrn::kernels::batch_norm_relu_inference_supported;
  const auto one = torch::randn({1, 4, 1, 1});
  EXPECT_TRUE(batch_norm_relu_inference_supported(one, w, b, b, w));
  EXPECT_TRUE(batch_norm_relu_inference_supported(x.contiguous(at::MemoryFormat::ChannelsLast), w, b, b, w));
  EXPECT_FALSE(batch_norm_relu_inference_supported(x.transpose(2, 3), w, b, b, w));
  EXPECT_FALSE(batch_norm_relu_inference_supported(x, w, b, b, torch::ones({3})));
  EXPECT_FALSE(batch_norm_relu_inference_supported(x, w, b, torch::Tensor(), w));
  if (at::hasMKLDNN()) {
    EXPECT_FALSE(batch_norm_relu_inference_supported(x.to_mkldnn(), w, b, b, w));
  }
  const std::string isa = wrn::kernels::batch_norm_relu_isa();
  EXPECT_TRUE(isa == "avx2" || isa == "default") << isa;
}

// models::batch_norm_relu with fusion on and off: the same outputs, running statistics,
// num_batches_tracked and gradients; a strided (non-contiguous) input; eval mode unfused.
TEST(FusedBatchNormRelu, ModelsCallMatchesTheUnfusedPath) {
  const bool before = wrn::models::fused_batch_norm_relu();
  for (bool strided : {false, true}) {
    torch::manual_seed(11);
    torch::nn::BatchNorm2d bn_a(6), bn_b(6);
    {
      torch::NoGradGuard ng;
      bn_a->weight.uniform_(0.5, 1.5);
      bn_a->bias.normal_();
      bn_b->weight.copy_(bn_a->weight);
      bn_b->bias.copy_(bn_a->bias);
    }
    auto base = torch::randn({4, 6, 10, 10});
    if (strided) base = base.transpose(2, 3);  // neither contiguous nor channels_last
    auto dy = torch::randn({4, 6, 10, 10});
    auto run = [&](torch::nn::BatchNorm2d& bn, bool fused) {
      wrn::models::set_fused_batch_norm_relu(fused);
      auto x = base.clone(at::MemoryFormat::Preserve).requires_grad_(true);
      auto y = wrn::models::batch_norm_relu(*bn, x);
      y.backward(dy);
      return std::vector<torch::Tensor>{y.detach(), x.grad(), bn->weight.grad(), bn->bias.grad(),
                                        bn->running_mean.clone(), bn->running_var.clone()};
    };
    const auto fused = run(bn_a, true), plain = run(bn_b, false);
    for (size_t i = 0; i < fused.size(); ++i) EXPECT_LT(rel_max(fused[i], plain[i]), 1e-4) << i;
    EXPECT_EQ(bn_a->num_batches_tracked.item<int64_t>(), 1);
    EXPECT_EQ(bn_b->num_batches_tracked.item<int64_t>(), 1);

    bn_a->eval();
    wrn::models::set_fused_batch_norm_relu(true);
    torch::NoGradGuard ng;
    EXPECT_TRUE(torch::equal(wrn::models::batch_norm_relu(*bn_a, base), torch::relu(bn_a->forward(base))));
  }
  wrn::models::set_fused_batch_norm_relu(before);
}

// batch_norm_add_relu of the models, fused and not (incl. a residual in the other layout, and
// eval mode, which never fuses).
TEST(FusedBatchNormRelu, ModelsAddReluMatchesTheUnfusedPath) {
  const bool before = wrn::models::fused_batch_norm_relu();
  torch::manual_seed(12);
  torch::nn::BatchNorm2d bn_a(6), bn_b(6);
  auto base = torch::randn({4, 6, 10, 10});
  auto res = torch::randn({4, 6, 10, 10}).contiguous(at::MemoryFormat::ChannelsLast);
  auto dy = torch::randn({4, 6, 10, 10});
  auto run = [&](torch::nn::BatchNorm2d& bn, bool fused) {
    wrn::models::set_fused_batch_norm_relu(fused);
    auto x = base.clone().requires_grad_(true), r = res.clone(at::MemoryFormat::Preserve).requires_grad_(true);
    auto y = wrn::models::batch_norm_add_relu(*bn, x, r);
    y.backward(dy);
    return std::vector<torch::Tensor>{y.detach(), x.grad(), r.grad(), bn->weight.grad(), bn->bias.grad(),
                                      bn->running_mean.clone(), bn->running_var.clone()};
  };
  const auto fused = run(bn_a, true), plain = run(bn_b, false);
  for (size_t i = 0; i < fused.size(); ++i) EXPECT_LT(rel_max(fused[i], plain[i]), 1e-4) << i;
  EXPECT_EQ(bn_a->num_batches_tracked.item<int64_t>(), 1);
  bn_a->eval();
  wrn::models::set_fused_batch_norm_relu(true);
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::equal(wrn::models::batch_norm_add_relu(*bn_a, base, res), torch::relu(bn_a->forward(base) + res)));
  wrn::models::set_fused_batch_norm_relu(before);
}

// A whole training step (forward, loss, backward) with fusion on and off, fp32 NCHW and
// channels_last: the same loss and gradients within float reordering.
TEST(FusedBatchNormRelu, WideResNetStepMatchesTheUnfusedPath) {
  const bool before = wrn::models::fused_batch_norm_relu();
  // WRN (BN+ReLU), and the post-activation ResNets' BN+add+ReLU: basic blocks with zero-padding
  // shortcuts (resnet20) and with projections (resnet18). Deeper nets (resnet164, 164 layers of
  // batch statistics over 8 images) amplify the float reordering past this bound either way.
  for (const std::string name : {"wrn-10-2", "resnet20", "resnet18"})
  for (bool cl : {false, true}) {
    SCOPED_TRACE(name + (cl ? " channels_last" : " NCHW"));
    wrn::models::ModelSpec spec;
    spec.name = name;
    spec.classes = 10;
    spec.input = wrn::models::InputShape::parse("3x16x16");
    torch::manual_seed(1);
    auto x = torch::randn({8, 3, 16, 16});
    if (cl) x = x.contiguous(at::MemoryFormat::ChannelsLast);
    auto labels = torch::randint(0, 10, {8});
    auto step = [&](bool fused) {
      wrn::models::set_fused_batch_norm_relu(fused);
      torch::manual_seed(2);
      auto net = wrn::models::build_model(spec);
      auto loss = torch::nn::functional::cross_entropy(net->forward(x), labels);
      loss.backward();
      std::vector<torch::Tensor> out{loss.detach()};
      for (const auto& p : net->parameters()) out.push_back(p.grad());
      for (const auto& b : net->buffers()) out.push_back(b.clone());
      return out;
    };
    const auto fused = step(true), plain = step(false);
    ASSERT_EQ(fused.size(), plain.size());
    for (size_t i = 0; i < fused.size(); ++i) EXPECT_LT(rel_max(fused[i], plain[i]), 2e-4) << "tensor " << i;
  }
  wrn::models::set_fused_batch_norm_relu(before);
}

}  // namespace
