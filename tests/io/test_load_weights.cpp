// Importing state dicts: name/shape matching with a message for each mismatch, fine-tuning
// with a new classifier, and the Python-written WRN-16-1 giving Python's logits.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "../models/golden_fill.h"
#include "../infer/export_test_util.h"
#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/io/pt_format.h"
#include "wrn/io/safetensors.h"
#include "wrn/io/state_dict.h"
#include "wrn/models/registry.h"

using namespace wrn::io;

namespace {

wrn::models::Classifier build(const std::string& name, int64_t classes = 0) {
  wrn::models::ModelSpec spec;
  spec.name = name;
  spec.classes = classes;
  return wrn::models::build_model(spec);
}

torch::Tensor golden_input(int64_t batch, int64_t c, int64_t h, int64_t w) {
  return (wrn::testing::uniform_stream("input", batch * c * h * w).reshape({batch, c, h, w}) * 2 - 1)
      .to(torch::kFloat32);
}

torch::Tensor json_matrix(const nlohmann::json& rows) {
  std::vector<torch::Tensor> out;
  for (const auto& r : rows) out.push_back(torch::tensor(r.get<std::vector<double>>(), torch::kFloat32));
  return torch::stack(out);
}

using wrn::test::rel_err;

torch::Tensor pooled(wrn::models::ClassifierImpl& model, const torch::Tensor& x) {
  std::vector<wrn::models::StageOutput> stages;
  model.forward_stages(x, &stages);
  for (auto& s : stages) {
    if (s.name == "pool") return s.value;
  }
  return {};
}

}  // namespace

TEST(Import, PythonWrittenWrn16x1GivesPythonLogits) {
  const std::string path = WRN_SOURCE_DIR "/tests/golden/interop/wrn-16-1.pt";
  auto golden = nlohmann::json::parse(wrn::read_file(WRN_SOURCE_DIR "/tests/golden/interop/wrn-16-1.json"));
  auto model = build("wrn-16-1");
  load_weights(*model, load_pt(path), path);
  model->eval();
  torch::NoGradGuard no_grad;
  auto logits = model->forward(golden_input(2, 3, 32, 32));
  EXPECT_LT(rel_err(logits, json_matrix(golden["logits"])), 1e-4);
  // Buffers come along too, num_batches_tracked included.
  for (auto& t : state_dict(*model)) {
    if (t.name == "final_bn.num_batches_tracked") {
      EXPECT_EQ(t.value.item<int64_t>(), 123);
    }
  }
}

TEST(Import, FineTuneReplacesOnlyTheClassifier) {
  const std::string path = WRN_SOURCE_DIR "/tests/golden/interop/wrn-16-1.pt";
  auto golden = nlohmann::json::parse(wrn::read_file(WRN_SOURCE_DIR "/tests/golden/interop/wrn-16-1.json"));
  auto sd = load_pt(path);
  auto model = build("wrn-16-1", 100);
  // Without fine-tuning the classifier's shape is reported.
  try {
    load_weights(*model, sd, path);
    ADD_FAILURE() << "expected a shape mismatch";
  } catch (const wrn::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("fc.weight: file [10, 64] vs model [100, 64]"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(load_weights(*model, sd, path, FineTune::WhenClassesDiffer));
  model->eval();
  EXPECT_EQ(model->num_classes(), 100);
  torch::NoGradGuard no_grad;
  auto x = golden_input(2, 3, 32, 32);
  EXPECT_LT(rel_err(pooled(*model, x), json_matrix(golden["pooled"])), 1e-4);
  EXPECT_EQ(model->forward(x).sizes(), (std::vector<int64_t>{2, 100}));
}

TEST(Import, EveryMismatchIsListedAndTheModelIsUnchanged) {
  auto source = build("resnet20");
  auto sd = state_dict(*source);
  // Drop one, add one, reshape one.
  sd.erase(std::find_if(sd.begin(), sd.end(), [](auto& t) { return t.name == "bn1.running_mean"; }));
  sd.push_back({"extra.weight", torch::zeros({3})});
  for (auto& t : sd) {
    if (t.name == "layer1.0.conv1.weight") t.value = torch::zeros({16, 16, 1, 1});
  }
  auto target = build("resnet20");
  auto before = state_dict(*target);
  std::vector<torch::Tensor> copies;
  for (auto& t : before) copies.push_back(t.value.clone());
  auto mismatch = compare_state_dict(*target, sd);
  EXPECT_EQ(mismatch.missing, std::vector<std::string>{"bn1.running_mean"});
  EXPECT_EQ(mismatch.unexpected, std::vector<std::string>{"extra.weight"});
  ASSERT_EQ(mismatch.wrong_shape.size(), 1u);
  EXPECT_EQ(mismatch.summary(), "1 missing, 1 unexpected, 1 with the wrong shape");
  try {
    load_state_dict(*target, sd, "weights.pt");
    ADD_FAILURE() << "expected a FileError";
  } catch (const wrn::FileError& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.substr(0, msg.find('\n')),
              "weights.pt: the state dict does not fit the model: 1 missing, 1 unexpected, 1 with the wrong shape");
    EXPECT_NE(msg.find("missing: bn1.running_mean"), std::string::npos);
    EXPECT_NE(msg.find("unexpected: extra.weight"), std::string::npos);
    EXPECT_NE(msg.find("wrong shape: layer1.0.conv1.weight: file [16, 16, 1, 1] vs model [16, 16, 3, 3]"),
              std::string::npos);
  }
  auto after = state_dict(*target);
  for (size_t i = 0; i < after.size(); ++i) EXPECT_TRUE(after[i].value.equal(copies[i])) << after[i].name;
}

TEST(Import, IntegerWhereFloatExpectedIsRejected) {
  auto model = build("resnet20");
  auto sd = state_dict(*model);
  for (auto& t : sd) {
    if (t.name == "fc.bias") t.value = torch::zeros(t.value.sizes(), torch::kInt64);
  }
  auto m = compare_state_dict(*model, sd);
  ASSERT_EQ(m.wrong_shape.size(), 1u);
  EXPECT_NE(m.wrong_shape[0].find("fc.bias: file dtype Long"), std::string::npos) << m.wrong_shape[0];
}

TEST(Import, HalfPrecisionSafetensorsLoadIntoFloatModel) {
  auto source = build("resnet20");
  auto sd = state_dict(*source);
  StateDict half;
  for (auto& t : sd) half.push_back({t.name, t.value.is_floating_point() ? t.value.to(torch::kHalf) : t.value});
  auto bytes = encode_safetensors(half);
  auto target = build("resnet20");
  load_weights(*target, decode_safetensors(bytes, "mem").tensors, "mem");
  auto loaded = state_dict(*target);
  for (size_t i = 0; i < sd.size(); ++i) {
    EXPECT_TRUE(loaded[i].value.allclose(sd[i].value.to(torch::kHalf).to(sd[i].value.scalar_type())))
        << sd[i].name;
  }
}
