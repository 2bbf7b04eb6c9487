// The architectures are the same as the references, not just the counts: weights filled by
// state_dict name (tests/models/golden_fill.h) and the expected logits come from
// scripts/make_golden_models.py (torchvision and reference definitions of the papers' code).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "golden_fill.h"
#include "wrn/models/registry.h"

namespace {

nlohmann::json load_golden(const std::string& name) {
  std::ifstream in(std::string(WRN_SOURCE_DIR) + "/tests/golden/models/" + name + ".json");
  EXPECT_TRUE(in.good()) << name;
  return nlohmann::json::parse(in);
}

class GoldenModel : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenModel, SameNamesShapesAndLogits) {
  auto golden = load_golden(GetParam());
  wrn::models::ModelSpec spec;
  spec.name = golden["model"];
  spec.classes = golden["classes"];
  auto input = golden["input"].get<std::vector<int64_t>>();
  spec.input = {input[0], input[1], input[2]};
  auto model = wrn::models::build_model(spec);

  // Every floating-point tensor of the state_dict, by name.
  std::map<std::string, torch::Tensor> ours;
  for (const auto& p : model->named_parameters()) ours[p.key()] = p.value();
  for (const auto& b : model->named_buffers()) {
    if (b.value().is_floating_point()) ours[b.key()] = b.value();
  }
  ASSERT_EQ(ours.size(), golden["state_dict"].size());
  torch::NoGradGuard no_grad;
  for (const auto& entry : golden["state_dict"]) {
    std::string name = entry[0];
    auto shape = entry[1].get<std::vector<int64_t>>();
    auto it = ours.find(name);
    ASSERT_NE(it, ours.end()) << "missing " << name;
    ASSERT_EQ(it->second.sizes().vec(), shape) << name;
    it->second.copy_(wrn::testing::golden_value(name, shape).to(torch::kFloat32));
  }

  model->eval();
  const int64_t batch = golden["batch"];
  auto x = (wrn::testing::uniform_stream("input", batch * input[0] * input[1] * input[2])
                .reshape({batch, input[0], input[1], input[2]}) * 2 - 1)
               .to(torch::kFloat32);
  auto logits = model->forward(x);
  auto expected = torch::tensor(golden["logits"].get<std::vector<std::vector<double>>>()[0], torch::kFloat64);
  for (int64_t i = 1; i < batch; ++i) {
    expected = torch::cat({expected, torch::tensor(golden["logits"][i].get<std::vector<double>>(), torch::kFloat64)});
  }
  expected = expected.reshape({batch, -1});
  auto diff = (logits.to(torch::kFloat64) - expected).abs().max().item<double>();
  auto scale = expected.abs().max().item<double>();
  EXPECT_LT(diff / scale, 1e-4) << "max abs diff " << diff << " (logit scale " << scale << ")";
}

INSTANTIATE_TEST_SUITE_P(Zoo, GoldenModel,
                         ::testing::Values("resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "wrn-16-4",
                                           "preact_resnet164", "resnet20"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n) if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

}  // namespace
