#include "wrn/models/precision.h"

#include <torch/nn/modules/batchnorm.h>

#include <unordered_set>

namespace wrn::models {

namespace {

bool is_batch_norm(const torch::nn::Module& m) {
  return m.as<torch::nn::BatchNorm1dImpl>() || m.as<torch::nn::BatchNorm2dImpl>() ||
         m.as<torch::nn::BatchNorm3dImpl>();
}

}  // namespace

std::vector<torch::Tensor> reduced_precision_parameters(const torch::nn::Module& module) {
  std::unordered_set<const c10::TensorImpl*> float32;
  for (const auto& m : module.modules(/*include_self=*/true)) {
    if (!is_batch_norm(*m)) continue;
    for (const auto& p : m->parameters(/*recurse=*/false)) float32.insert(p.unsafeGetTensorImpl());
  }
  std::vector<torch::Tensor> out;
  for (const auto& p : module.parameters(/*recurse=*/true))
    if (!float32.count(p.unsafeGetTensorImpl())) out.push_back(p);
  return out;
}

void cast_for_inference(torch::nn::Module& module, c10::ScalarType dtype) {
  torch::NoGradGuard no_grad;
  for (auto& p : reduced_precision_parameters(module)) {
    if (p.scalar_type() != dtype) p.set_data(p.to(dtype));  // keeps the memory format
  }
}

}  // namespace wrn::models
