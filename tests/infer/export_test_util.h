// Shared by the exporter tests: models with non-trivial weights and statistics, and the
// relative error the tests state their tolerances in.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/types.h>
#include <torch/utils.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "wrn/data/preprocessing.h"
#include "wrn/models/registry.h"

namespace wrn::test {

// Non-trivial BN statistics and affine parameters and non-zero conv biases (the gates), so
// that a folding or ordering mistake shows; scaled to keep activations in a sane range.
inline void randomize_statistics(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (auto& m : model.modules()) {
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.2, 0.2);
      bn->running_mean.uniform_(-0.3, 0.3);
      bn->running_var.uniform_(0.5, 2.0);
    } else if (auto* conv = m->as<torch::nn::Conv2dImpl>()) {
      if (conv->bias.defined()) conv->bias.uniform_(-0.5, 0.5);
    }
  }
}

// A zoo model by name with `--set` settings, seeded, statistics randomized, in eval mode.
inline models::Classifier make_model(const std::string& name, const std::vector<std::string>& settings,
                                     const models::InputShape& input, int64_t classes = 10) {
  torch::manual_seed(11);
  models::ModelSpec spec;
  spec.name = name;
  spec.input = input;
  spec.classes = classes;
  for (const auto& s : settings) spec.add_setting(s);
  auto model = models::build_model(spec);
  randomize_statistics(*model);
  model->eval();
  return model;
}

// A preprocessing spec far from the defaults in every field, so an export that drops or
// rounds one shows: 3x40x48, random_resized_crop, resize 56 + center crop, mean/std set.
inline data::Preprocessing sample_preprocessing() {
  data::Preprocessing p;
  p.channels = 3;
  p.height = 40;
  p.width = 48;
  p.train = data::TrainTransform::RandomResizedCrop;
  p.augment.pad = 0;
  p.augment.flip = false;
  p.scale_min = 0.25;
  p.scale_max = 0.9;
  p.ratio_min = 0.5;
  p.ratio_max = 2.0;
  p.eval = data::EvalTransform::ResizeCenterCrop;
  p.eval_resize = 56;
  p.mean = {125.3, 122.95, 113.87};
  p.std = {63.0, 62.1, 66.7};
  p.validate();
  return p;
}

// max|a - b| / max|b|.
inline double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}

// The names in a directory (to prove that a failed write left nothing behind).
inline std::vector<std::string> list_dir(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  return names;
}

// A fresh empty directory under the system temp dir, removed by the destructor.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag) {
    path = std::filesystem::temp_directory_path() /
           (tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(reinterpret_cast<uintptr_t>(this)));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace wrn::test
