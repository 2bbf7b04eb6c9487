// wrn::data auto augmentation against torchvision 0.14 (golden file from
// tests/golden/augment/make_auto_augment.py: torchvision's _apply_op on a 4 x 3 x 16 x 16 and a
// 4 x 1 x 12 x 12 uint8 batch, each op at several per-image magnitudes, negative ones included,
// and the _augmentation_space tables), plus the batched draws: determinism, None, grouping,
// frequencies, errors.
//
// Tolerance: none. Every op, the geometric ones (nearest grid_sample) included, equals
// torchvision bit for bit: wrn builds the same float32 grid from the same double matrix.
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/types.h>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "wrn/core/error.h"
#include "wrn/data/auto_augment.h"

namespace wrn::data {
namespace {

const std::string kGolden = std::string(WRN_SOURCE_DIR) + "/tests/golden/augment/cases.json";

const nlohmann::json& golden() {
  static const nlohmann::json doc = [] {
    std::ifstream in(kGolden);
    EXPECT_TRUE(in.good()) << "missing " << kGolden;
    return nlohmann::json::parse(in);
  }();
  return doc;
}

// uint8 [shape] from the golden file's hex string (the format of tests/golden/transforms).
torch::Tensor from_hex(const std::string& hex, const std::vector<int64_t>& shape) {
  std::vector<uint8_t> bytes(hex.size() / 2);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = uint8_t(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  auto t = torch::from_blob(bytes.data(), {int64_t(bytes.size())}, torch::kUInt8).clone();
  int64_t n = 1;
  for (auto s : shape) n *= s;
  EXPECT_EQ(n, t.numel());
  return t.view(shape);
}

torch::Generator seeded(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

AugmentOp op_named(const std::string& name) {
  for (int64_t k = 0; k < kNumAugmentOps; ++k)
    if (augment_op_name(static_cast<AugmentOp>(k)) == name) return static_cast<AugmentOp>(k);
  ADD_FAILURE() << "unknown op " << name;
  return AugmentOp::Identity;
}

torch::Tensor random_u8(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = seeded(seed);
  return torch::randint(0, 256, shape, gen, torch::kUInt8);
}

// Smooth content (so every op visibly changes it) with noise.
torch::Tensor smooth_u8(int64_t b, int64_t c, int64_t h, int64_t w, uint64_t seed) {
  auto y = torch::arange(h, torch::kFloat32).view({1, 1, h, 1});
  auto x = torch::arange(w, torch::kFloat32).view({1, 1, 1, w});
  auto phase = torch::arange(b * c, torch::kFloat32).view({b, c, 1, 1});
  auto v = 128 + 100 * torch::sin(x / 3 + y / 5 + phase) + random_u8({b, c, h, w}, seed).to(torch::kFloat32) / 10;
  return v.clamp(0, 255).to(torch::kUInt8);
}

TEST(AutoAugmentGolden, EveryOpMatchesTorchvision) {
  const auto& doc = golden();
  std::map<std::string, torch::Tensor> batches;
  for (const auto& [name, b] : doc["batches"].items())
    batches[name] = from_hex(b["pixels"], b["shape"].get<std::vector<int64_t>>());
  ASSERT_EQ(batches.size(), 4u);
  const auto& rgb = batches["rgb"];
  ASSERT_EQ(rgb.sizes(), (std::vector<int64_t>{4, 3, 16, 16}));
  ASSERT_EQ(batches["grey"].sizes(), (std::vector<int64_t>{4, 1, 12, 12}));
  std::map<std::string, int> seen;
  int64_t compared = 0;
  for (const auto& c : doc["cases"]) {
    const std::string name = c["op"];
    const AugmentOp op = op_named(name);
    for (const auto& [batch, o] : c["outputs"].items()) {
      SCOPED_TRACE(name + " " + batch + " " + o["magnitudes"].dump());
      ASSERT_EQ(batches.count(batch), 1u);
      const auto& input = batches[batch];
      const auto m = torch::tensor(o["magnitudes"].get<std::vector<float>>());
      const auto expected = from_hex(o["pixels"], input.sizes().vec());
      const auto out = apply_augment_op(input, op, m);
      ASSERT_EQ(out.sizes(), input.sizes());
      ASSERT_EQ(out.scalar_type(), torch::kUInt8);
      EXPECT_TRUE(out.is_contiguous());
      for (int64_t i = 0; i < input.size(0); ++i) {
        const int64_t wrong = out[i].ne(expected[i]).sum().item<int64_t>();
        EXPECT_EQ(wrong, 0) << "image " << i << " (magnitude " << m[i].item<float>() << "): " << wrong
                            << " of " << out[i].numel() << " values differ from torchvision";
      }
      compared += out.numel();
      // The golden outputs are not the inputs (else this comparison could not fail), except
      // Identity, Color on grey images (torchvision leaves them, like PIL) and Equalize on
      // images of fewer than 256 pixels per channel (its step is 0 there).
      const bool small = input.size(2) * input.size(3) < 256;
      const bool unchanged = op == AugmentOp::Identity || (op == AugmentOp::Color && input.size(1) == 1) ||
                             (op == AugmentOp::Equalize && small);
      EXPECT_EQ(torch::equal(expected, input), unchanged) << "golden output equals its input: " << !unchanged;
    }
    ++seen[name];
  }
  EXPECT_EQ(seen.size(), size_t(kNumAugmentOps)) << "every op has golden cases";
  EXPECT_GT(compared, 100000);
  // Single images and a reordered batch give the same results (no cross-image mixing).
  const auto& c = doc["cases"][4];  // a ShearY case
  ASSERT_EQ(c["op"].get<std::string>(), "ShearY");
  auto mags = torch::tensor(c["outputs"]["rgb"]["magnitudes"].get<std::vector<float>>());
  auto full = apply_augment_op(rgb, AugmentOp::ShearY, mags);
  auto perm = torch::tensor(std::vector<int64_t>{2, 0, 3, 1});
  EXPECT_TRUE(torch::equal(apply_augment_op(rgb.index_select(0, perm), AugmentOp::ShearY, mags.index_select(0, perm)),
                           full.index_select(0, perm)));
  EXPECT_TRUE(torch::equal(apply_augment_op(rgb.narrow(0, 3, 1), AugmentOp::ShearY, mags.narrow(0, 3, 1)),
                           full.narrow(0, 3, 1)));
}

TEST(AutoAugmentGolden, MagnitudeTablesMatchTorchvision) {
  const auto& tables = golden()["tables"];
  ASSERT_EQ(tables.size(), 8u);
  for (const auto& t : tables) {
    const std::string kind_name = t["kind"];
    const auto kind = kind_name == "RandAugment" ? AutoAugmentKind::RandAugment : AutoAugmentKind::TrivialAugmentWide;
    const int64_t bins = t["bins"];
    const auto size = t["size"].get<std::vector<int64_t>>();
    ASSERT_EQ(t["ops"].size(), size_t(kNumAugmentOps));
    for (int64_t k = 0; k < kNumAugmentOps; ++k) {
      const auto op = static_cast<AugmentOp>(k);
      SCOPED_TRACE(kind_name + " " + augment_op_name(op) + " bins " + std::to_string(bins));
      const auto expected = t["ops"][augment_op_name(op)].get<std::vector<float>>();
      const auto ours = augment_magnitudes(kind, op, bins, size[0], size[1]);
      ASSERT_EQ(ours.numel(), int64_t(expected.size()));
      for (int64_t i = 0; i < ours.numel(); ++i) EXPECT_EQ(ours[i].item<float>(), expected[size_t(i)]) << "bin " << i;
    }
  }
  EXPECT_TRUE(augment_op_signed(AugmentOp::Rotate));
  EXPECT_TRUE(augment_op_signed(AugmentOp::Sharpness));
  EXPECT_FALSE(augment_op_signed(AugmentOp::Posterize));
  EXPECT_FALSE(augment_op_signed(AugmentOp::Solarize));
  EXPECT_FALSE(augment_op_signed(AugmentOp::Identity));
}

AutoAugmentOptions trivial() {
  AutoAugmentOptions o;
  o.kind = AutoAugmentKind::TrivialAugmentWide;
  return o;
}

AutoAugmentOptions randaugment(int64_t num_ops = 2, int64_t magnitude = 9) {
  AutoAugmentOptions o;
  o.kind = AutoAugmentKind::RandAugment;
  o.num_ops = num_ops;
  o.magnitude = magnitude;
  return o;
}

TEST(AutoAugment, DeterministicPerSeedAndShapePreserved) {
  for (const auto& options : {trivial(), randaugment()}) {
    for (int64_t c : {3, 1}) {
      auto x = smooth_u8(64, c, 16, 16, 3);
      auto g1 = seeded(7), g2 = seeded(7), g3 = seeded(8);
      auto a = auto_augment_batch(x, options, g1);
      auto b = auto_augment_batch(x, options, g2);
      auto d = auto_augment_batch(x, options, g3);
      EXPECT_TRUE(torch::equal(a, b));
      EXPECT_FALSE(torch::equal(a, d));
      EXPECT_FALSE(torch::equal(auto_augment_batch(x, options, g1), a));  // the state advanced
      EXPECT_FALSE(torch::equal(a, x));
      EXPECT_EQ(a.sizes(), x.sizes());
      EXPECT_EQ(a.scalar_type(), torch::kUInt8);
      EXPECT_TRUE(a.is_contiguous());
      EXPECT_FALSE(a.is_same(x));
    }
  }
  // A non-contiguous input is fine and gives the contiguous input's result.
  auto x = smooth_u8(16, 3, 12, 20, 4);
  auto xt = x.transpose(2, 3).contiguous().transpose(2, 3);
  ASSERT_FALSE(xt.is_contiguous());
  auto g1 = seeded(9), g2 = seeded(9);
  EXPECT_TRUE(torch::equal(auto_augment_batch(xt, trivial(), g1), auto_augment_batch(x, trivial(), g2)));
}

TEST(AutoAugment, NoneIsTheIdentityAndDrawsNothing) {
  auto x = smooth_u8(8, 3, 16, 16, 5);
  AutoAugmentOptions none;
  auto g1 = seeded(3), g2 = seeded(3);
  auto out = auto_augment_batch(x, none, g1);
  EXPECT_TRUE(out.is_same(x));
  EXPECT_TRUE(torch::equal(torch::randint(0, 1 << 30, {4}, g1, torch::kInt64),
                           torch::randint(0, 1 << 30, {4}, g2, torch::kInt64)));
  // RandAugment with no ops changes nothing either (a copy).
  EXPECT_TRUE(torch::equal(auto_augment_batch(x, randaugment(0), g1), x));
  // Empty batches.
  auto empty = torch::zeros({0, 3, 16, 16}, torch::kUInt8);
  EXPECT_EQ(auto_augment_batch(empty, trivial(), g1).sizes(), empty.sizes());
}

// The grouped batch equals applying each image's drawn ops to it alone, in round order.
TEST(AutoAugment, BatchedEqualsPerImageOps) {
  for (const auto& options : {trivial(), randaugment(3, 20)}) {
    auto x = smooth_u8(40, 3, 14, 18, 6);
    auto g1 = seeded(11), g2 = seeded(11);
    const auto draw = draw_auto_augment(40, 14, 18, options, g1);
    const auto batched = auto_augment_batch(x, options, g2);
    ASSERT_EQ(draw.ops.size(0), options.kind == AutoAugmentKind::RandAugment ? 3 : 1);
    std::set<int64_t> ops_seen;
    for (int64_t i = 0; i < 40; ++i) {
      auto img = x.narrow(0, i, 1);
      for (int64_t r = 0; r < draw.ops.size(0); ++r) {
        const int64_t k = draw.ops[r][i].item<int64_t>();
        ops_seen.insert(k);
        img = apply_augment_op(img, static_cast<AugmentOp>(k), draw.magnitudes[r].narrow(0, i, 1));
      }
      EXPECT_TRUE(torch::equal(img, batched.narrow(0, i, 1))) << "image " << i;
    }
    EXPECT_GE(ops_seen.size(), 10u);  // the batch really mixes ops
  }
}

TEST(AutoAugment, DrawFrequenciesFollowTorchvision) {
  const int64_t n = 20000, h = 32, w = 32;
  {  // TrivialAugmentWide: op uniform over 14, bin uniform over 31, sign 50 %.
    auto gen = seeded(21);
    const auto d = draw_auto_augment(n, h, w, trivial(), gen);
    ASSERT_EQ(d.ops.sizes(), (std::vector<int64_t>{1, n}));
    ASSERT_EQ(d.magnitudes.sizes(), (std::vector<int64_t>{1, n}));
    auto ops = d.ops[0], mags = d.magnitudes[0];
    auto counts = torch::bincount(ops, {}, kNumAugmentOps);
    ASSERT_EQ(counts.numel(), kNumAugmentOps);
    for (int64_t k = 0; k < kNumAugmentOps; ++k) {
      const auto op = static_cast<AugmentOp>(k);
      const int64_t cnt = counts[k].item<int64_t>();
      // n / 14 = 1428.6, sd 36.5: +-6 sd.
      EXPECT_GT(cnt, 1210) << augment_op_name(op);
      EXPECT_LT(cnt, 1650) << augment_op_name(op);
      auto sel = mags.masked_select(ops == k);
      const auto table = augment_magnitudes(AutoAugmentKind::TrivialAugmentWide, op, 31, h, w);
      if (table.numel() == 0) {
        EXPECT_EQ(sel.abs().max().item<float>(), 0.0f) << augment_op_name(op);
        continue;
      }
      // Every value is +-a table entry; all 31 bins appear (1428 draws: P(miss) ~ 31 e^-46).
      auto match = sel.abs().unsqueeze(1).eq(table.unsqueeze(0));  // [cnt, 31]
      EXPECT_TRUE(match.any(1).all().item<bool>()) << augment_op_name(op);
      EXPECT_TRUE(match.any(0).all().item<bool>()) << augment_op_name(op);
      const double negative = sel.lt(0).to(torch::kFloat64).mean().item<double>();
      if (augment_op_signed(op)) {
        // Bin 0 is 0 for signed ops, its sign invisible: negative ~ 0.5 * 30/31.
        EXPECT_NEAR(negative, 0.5 * 30 / 31, 0.07) << augment_op_name(op);
      } else {
        EXPECT_EQ(negative, 0.0) << augment_op_name(op);
      }
    }
  }
  {  // RandAugment: num_ops rounds, the fixed bin, random signs.
    auto gen = seeded(22);
    const auto d = draw_auto_augment(n / 2, h, w, randaugment(2, 9), gen);
    ASSERT_EQ(d.ops.sizes(), (std::vector<int64_t>{2, n / 2}));
    auto counts = torch::bincount(d.ops.reshape({-1}), {}, kNumAugmentOps);
    EXPECT_GT(counts.min().item<int64_t>(), 1210);
    EXPECT_LT(counts.max().item<int64_t>(), 1650);
    EXPECT_FALSE(torch::equal(d.ops[0], d.ops[1]));
    for (int64_t k = 0; k < kNumAugmentOps; ++k) {
      const auto op = static_cast<AugmentOp>(k);
      auto sel = d.magnitudes.masked_select(d.ops == k);
      const auto table = augment_magnitudes(AutoAugmentKind::RandAugment, op, 31, h, w);
      const float expected = table.numel() ? table[9].item<float>() : 0.0f;
      EXPECT_TRUE(sel.abs().eq(expected).all().item<bool>()) << augment_op_name(op);
      if (augment_op_signed(op)) {
        EXPECT_NEAR(sel.lt(0).to(torch::kFloat64).mean().item<double>(), 0.5, 0.07) << augment_op_name(op);
      }
    }
  }
}

TEST(AutoAugment, RejectsBadInput) {
  auto x = smooth_u8(2, 3, 8, 8, 1);
  auto two = torch::zeros({2});
  EXPECT_THROW(apply_augment_op(x.to(torch::kFloat32), AugmentOp::Rotate, two), ConfigError);
  EXPECT_THROW(apply_augment_op(torch::zeros({2, 2, 8, 8}, torch::kUInt8), AugmentOp::Rotate, two), ConfigError);
  EXPECT_THROW(apply_augment_op(x[0], AugmentOp::Rotate, two), ConfigError);
  EXPECT_THROW(apply_augment_op(x, AugmentOp::Rotate, torch::zeros({3})), ConfigError);
  EXPECT_THROW(apply_augment_op(x, AugmentOp::Brightness, torch::tensor({0.f, -1.5f})), ConfigError);
  EXPECT_THROW(apply_augment_op(x, AugmentOp::Posterize, torch::tensor({8.f, 9.f})), ConfigError);
  EXPECT_THROW(apply_augment_op(x, AugmentOp::Posterize, torch::tensor({-1.f, 4.f})), ConfigError);
  EXPECT_THROW(apply_augment_op(x, AugmentOp::Solarize, torch::tensor({256.f, 4.f})), ConfigError);
  EXPECT_THROW(apply_augment_op(x, static_cast<AugmentOp>(14), two), ConfigError);
  auto gen = seeded(1);
  auto bad = trivial();
  bad.num_magnitude_bins = 1;
  EXPECT_THROW(auto_augment_batch(x, bad, gen), ConfigError);
  EXPECT_THROW(auto_augment_batch(x, randaugment(2, 31), gen), ConfigError);
  EXPECT_THROW(auto_augment_batch(x, randaugment(-1, 9), gen), ConfigError);
  EXPECT_THROW(auto_augment_batch(x.to(torch::kInt32), trivial(), gen), ConfigError);
  EXPECT_THROW(draw_auto_augment(2, 8, 8, AutoAugmentOptions{}, gen), ConfigError);
  // Posterize 0 bits and Brightness factor 0 are in range (black images).
  EXPECT_EQ(apply_augment_op(x, AugmentOp::Posterize, torch::zeros({2})).max().item<int64_t>(), 0);
  EXPECT_EQ(apply_augment_op(x, AugmentOp::Brightness, torch::full({2}, -1.0f)).max().item<int64_t>(), 0);
}

TEST(AutoAugment, CostOfOneCifarBatch) {
  auto x = random_u8({128, 3, 32, 32}, 5);
  for (const auto& [name, options] : {std::pair{"TrivialAugmentWide", trivial()}, std::pair{"RandAugment(2, 9)", randaugment()}}) {
    auto gen = seeded(1);
    for (int i = 0; i < 3; ++i) auto_augment_batch(x, options, gen);  // warm-up
    const int reps = 20;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) auto_augment_batch(x, options, gen);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / reps;
    std::cout << name << " 128x3x32x32: " << ms << " ms per batch\n";
  }
}

// On CUDA (when present) the batch stays on the device and, with a CPU generator, gives the
// CPU result (up to nearest-rounding ties of the grid on the GPU's bmm: a few values).
TEST(AutoAugment, CudaMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device in this LibTorch build";
  auto x = smooth_u8(256, 3, 32, 32, 6);
  for (const auto& options : {trivial(), randaugment()}) {
    auto g1 = seeded(5), g2 = seeded(5);
    auto cpu = auto_augment_batch(x, options, g1);
    auto gpu = auto_augment_batch(x.to(torch::kCUDA), options, g2);
    EXPECT_TRUE(gpu.is_cuda());
    const double differing = gpu.cpu().ne(cpu).to(torch::kFloat64).mean().item<double>();
    std::cout << "CUDA vs CPU: " << differing * 100 << " % of values differ\n";
    EXPECT_LT(differing, 1e-3);
  }
}

}  // namespace
}  // namespace wrn::data
