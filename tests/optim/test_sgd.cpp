// Sgd against torch.optim.SGD (golden file written by scripts/golden_sgd.py), the flat
// parameter buffer's aliasing, and optimizer state round trips.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/optim/sgd.h"

using wrn::train::FlatParameters;
using wrn::train::Sgd;
using wrn::train::SgdKernel;
using wrn::train::SgdOptions;

namespace {

torch::Tensor from_json(const nlohmann::json& j) {
  std::vector<int64_t> shape = j.at("shape").get<std::vector<int64_t>>();
  std::vector<float> values;
  for (double v : j.at("values")) values.push_back(static_cast<float>(v));
  return torch::tensor(values).reshape(shape);
}

struct Holder : torch::nn::Module {
  explicit Holder(const std::vector<torch::Tensor>& init) {
    for (size_t i = 0; i < init.size(); ++i) register_parameter("p" + std::to_string(i), init[i].clone());
  }
};

double max_rel_err(const torch::Tensor& got, const torch::Tensor& want) {
  auto diff = (got.to(torch::kDouble) - want.to(torch::kDouble)).abs();
  auto scale = want.to(torch::kDouble).abs().clamp_min(1e-3);
  return (diff / scale).max().item<double>();
}

void run_golden(SgdKernel kernel) {
  auto golden = nlohmann::json::parse(wrn::read_file(std::string(WRN_SOURCE_DIR) + "/tests/golden/sgd_cases.json"));
  ASSERT_GE(golden.at("cases").size(), 5u);
  for (const auto& c : golden.at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    std::vector<torch::Tensor> init;
    for (const auto& t : c.at("initial")) init.push_back(from_json(t));
    auto holder = std::make_shared<Holder>(init);
    FlatParameters flat(*holder);
    ASSERT_TRUE(flat.aliased());
    SgdOptions o;
    o.lr = c.at("lr");
    o.momentum = c.at("momentum");
    o.dampening = c.at("dampening");
    o.weight_decay = c.at("weight_decay");
    o.nesterov = c.at("nesterov");
    Sgd sgd(flat, o, kernel);
    int step = 0;
    for (const auto& s : c.at("steps")) {
      if (s.at("reset_before").get<bool>()) sgd.reset_momentum();
      flat.zero_grad();
      for (size_t i = 0; i < init.size(); ++i) flat.parameters()[i].grad().copy_(from_json(s.at("grads")[i]));
      sgd.step(s.at("lr").get<double>());
      for (size_t i = 0; i < init.size(); ++i) {
        double err = max_rel_err(flat.parameters()[i], from_json(s.at("params")[i]));
        EXPECT_LT(err, 1e-6) << "step " << step << " param " << i;
      }
      ++step;
    }
    EXPECT_TRUE(flat.aliased());
  }
}

}  // namespace

TEST(SgdGolden, FusedKernelMatchesTorchOptimSgd) { run_golden(SgdKernel::Fused); }
TEST(SgdGolden, TensorKernelMatchesTorchOptimSgd) { run_golden(SgdKernel::Tensor); }

TEST(FlatParameters, AutogradAccumulatesIntoTheFlatGradBuffer) {
  auto holder = std::make_shared<Holder>(std::vector<torch::Tensor>{torch::ones({3}), torch::full({2, 2}, 2.0)});
  FlatParameters flat(*holder);
  ASSERT_EQ(flat.numel(), 7);
  auto loss = (flat.parameters()[0] * 3).sum() + (flat.parameters()[1] * flat.parameters()[1]).sum();
  loss.backward();
  EXPECT_TRUE(flat.aliased());
  auto expected = torch::tensor({3.f, 3.f, 3.f, 4.f, 4.f, 4.f, 4.f});
  EXPECT_TRUE(torch::equal(flat.grads(), expected));
  flat.zero_grad();
  EXPECT_EQ(flat.grads().abs().sum().item<float>(), 0.f);
  // The module's named parameters are the flat buffer's views.
  flat.params().fill_(5);
  EXPECT_EQ(holder->named_parameters()["p1"].sum().item<float>(), 20.f);
}

TEST(Sgd, FusedAndTensorKernelsAgreeOnALargeBuffer) {
  torch::manual_seed(1);
  auto p = torch::randn({100003});
  auto g = torch::randn({100003});
  for (bool nesterov : {true, false}) {
    SgdOptions o;
    o.nesterov = nesterov;
    o.dampening = nesterov ? 0.0 : 0.1;
    auto p1 = p.clone(), g1 = g.clone(), p2 = p.clone(), g2 = g.clone();
    Sgd a(p1, g1, o, SgdKernel::Fused), b(p2, g2, o, SgdKernel::Tensor);
    for (int i = 0; i < 3; ++i) {
      g1.copy_(g * (i + 1));
      g2.copy_(g * (i + 1));
      a.step(0.1);
      b.step(0.1);
    }
    EXPECT_LT(max_rel_err(p1, p2), 1e-6);
  }
}

TEST(Sgd, StateRoundTripContinuesIdentically) {
  auto p = torch::randn({50}), g = torch::randn({50});
  SgdOptions o;
  auto p1 = p.clone(), g1 = g.clone();
  Sgd a(p1, g1, o);
  a.step(0.1);
  g1.copy_(g);
  auto state = a.state();
  auto p2 = p1.clone(), g2 = g.clone();
  Sgd b(p2, g2, o);
  b.load_state(state);
  EXPECT_TRUE(b.has_buffer());
  EXPECT_EQ(b.steps(), 1);
  a.step(0.1);
  b.step(0.1);
  EXPECT_TRUE(torch::equal(p1, p2));
}

TEST(Sgd, LoadStateRejectsAWrongSize) {
  auto p = torch::randn({5}), g = torch::randn({5});
  Sgd a(p, g, SgdOptions{});
  auto state = a.state();
  auto q = torch::randn({6}), h = torch::randn({6});
  Sgd b(q, h, SgdOptions{});
  EXPECT_THROW(b.load_state(state), wrn::FileError);
}

TEST(SgdOptions, ValidationNamesTheField) {
  SgdOptions o;
  o.momentum = 0;
  o.nesterov = true;
  try {
    o.validate("optimizer");
    FAIL();
  } catch (const wrn::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("optimizer.nesterov"), std::string::npos);
  }
  o = SgdOptions{};
  o.lr = -1;
  EXPECT_THROW(o.validate(), wrn::ConfigError);
}
