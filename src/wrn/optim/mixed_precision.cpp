#include "wrn/optim/mixed_precision.h"

#include <torch/autograd.h>

#include <algorithm>
#include <unordered_set>

#include "wrn/core/error.h"
#include "wrn/models/precision.h"

namespace wrn::train {

MixedPrecisionWeights::MixedPrecisionWeights(torch::nn::Module& module, const FlatParameters& flat,
                                             c10::ScalarType dtype)
    : enabled_(true), dtype_(dtype), master_(flat.params()), master_grads_(flat.grads()) {
  WRN_CHECK(dtype == c10::kBFloat16 || dtype == c10::kHalf, "mixed precision needs bf16 or fp16, got {}",
            c10::toString(dtype));
  WRN_CHECK(master_.defined() && master_.scalar_type() == c10::kFloat && flat.aliased(),
            "mixed precision needs float32 flat parameters that alias the module");
  torch::NoGradGuard no_grad;
  compute_ = torch::empty_like(master_, master_.options().dtype(dtype));
  compute_grads_ = torch::zeros_like(master_, master_.options().dtype(dtype));
  std::unordered_set<const c10::TensorImpl*> reduced;
  for (const auto& p : models::reduced_precision_parameters(module)) reduced.insert(p.unsafeGetTensorImpl());
  for (const auto& p : flat.parameters()) {
    if (!reduced.count(p.unsafeGetTensorImpl())) continue;
    // The parameter is a view of the flat buffer (FlatParameters): its sizes, strides and
    // storage offset place the same slice in the compute buffers.
    Slot s;
    s.param = p;
    s.master = p.detach();
    s.master_grad = p.grad();
    s.compute = compute_.as_strided(p.sizes(), p.strides(), p.storage_offset());
    s.compute_grad = compute_grads_.as_strided(p.sizes(), p.strides(), p.storage_offset());
    slot_of_.emplace(p.unsafeGetTensorImpl(), slots_.size());
    slots_.push_back(std::move(s));
  }
  std::vector<std::pair<int64_t, int64_t>> spans;
  for (const auto& s : slots_) spans.emplace_back(s.param.storage_offset(), s.param.numel());
  std::sort(spans.begin(), spans.end());
  for (const auto& [offset, n] : spans) {
    if (!runs_.empty() && runs_.back().first + runs_.back().second == offset)
      runs_.back().second += n;
    else
      runs_.emplace_back(offset, n);
  }
}

void MixedPrecisionWeights::refresh() {
  if (!enabled_) return;
  torch::NoGradGuard no_grad;
  compute_.copy_(master_);  // the whole buffer in one kernel (BatchNorm's slots ride along unused)
}

void MixedPrecisionWeights::use_compute() {
  if (!enabled_) return;
  refresh();
  for (auto& s : slots_) {
    s.param.set_data(s.compute);
    s.param.mutable_grad() = s.compute_grad;
  }
  on_compute_ = true;
}

void MixedPrecisionWeights::use_master() {
  if (!enabled_ || !on_compute_) return;
  for (auto& s : slots_) {
    s.param.set_data(s.master);
    s.param.mutable_grad() = s.master_grad;
  }
  on_compute_ = false;
}

void MixedPrecisionWeights::zero_grad() {
  if (enabled_) compute_grads_.zero_();
}

void MixedPrecisionWeights::gradients_to_master() {
  if (!enabled_) return;
  torch::NoGradGuard no_grad;
  for (const auto& [offset, n] : runs_) master_grads_.narrow(0, offset, n).copy_(compute_grads_.narrow(0, offset, n));
}

void MixedPrecisionWeights::gradient_to_master(const torch::Tensor& param) {
  if (!enabled_ || !on_compute_) return;
  const auto it = slot_of_.find(param.unsafeGetTensorImpl());
  if (it == slot_of_.end()) return;
  torch::NoGradGuard no_grad;
  auto& s = slots_[it->second];
  s.master_grad.copy_(s.compute_grad);
}

}  // namespace wrn::train
