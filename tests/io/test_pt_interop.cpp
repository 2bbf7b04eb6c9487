// Writes a torchvision-named resnet50 state_dict (deterministic fill) as .pt and
// .safetensors with wrn's logits, and checks the files read back to the same logits.
// With WRN_INTEROP_DIR set the files go there, for scripts/golden_interop.py check DIR
// (torch.load + torchvision resnet50 load_state_dict in Python).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>

#include "../models/golden_fill.h"
#include "wrn/core/atomic_file.h"
#include "wrn/io/pt_format.h"
#include "wrn/io/safetensors.h"
#include "wrn/io/state_dict.h"
#include "wrn/models/registry.h"

namespace fs = std::filesystem;
using namespace wrn::io;

TEST(ExportInterop, Resnet50FilesReadBackToTheSameLogits) {
  const char* env = std::getenv("WRN_INTEROP_DIR");
  fs::path dir = env ? fs::path(env) : fs::temp_directory_path() / ("wrn_interop_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  wrn::models::ModelSpec spec;
  spec.name = "resnet50";
  spec.classes = 10;
  auto model = wrn::models::build_model(spec);
  {
    torch::NoGradGuard no_grad;
    for (auto& t : state_dict(*model)) {
      if (t.value.is_floating_point()) t.value.copy_(wrn::testing::golden_value(t.name, t.value.sizes().vec()));
    }
  }
  model->eval();
  torch::NoGradGuard no_grad;
  const int64_t batch = 2, c = 3, h = 64, w = 64;
  auto x = (wrn::testing::uniform_stream("input", batch * c * h * w).reshape({batch, c, h, w}) * 2 - 1)
               .to(torch::kFloat32);
  auto logits = model->forward(x);
  nlohmann::json rec = {{"model", "resnet50"}, {"classes", 10}, {"input", {c, h, w}}, {"batch", batch}};
  for (int64_t i = 0; i < batch; ++i) {
    auto row = logits[i].contiguous();
    rec["logits"].push_back(std::vector<float>(row.data_ptr<float>(), row.data_ptr<float>() + row.numel()));
  }
  wrn::write_file_atomically((dir / "resnet50.json").string(), rec.dump());
  auto sd = state_dict(*model);
  save_pt((dir / "resnet50.pt").string(), sd);
  save_safetensors((dir / "resnet50.safetensors").string(), sd, {{"model", "resnet50"}});

  for (const auto& loaded : {load_pt((dir / "resnet50.pt").string()),
                             load_safetensors((dir / "resnet50.safetensors").string()).tensors}) {
    auto other = wrn::models::build_model(spec);
    load_weights(*other, loaded, "resnet50");
    other->eval();
    EXPECT_TRUE(other->forward(x).equal(logits));
  }
  if (!env) fs::remove_all(dir);
}
