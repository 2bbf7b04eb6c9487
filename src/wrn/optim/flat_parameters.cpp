#include "wrn/optim/flat_parameters.h"

#include "wrn/core/error.h"
#include "wrn/core/memory.h"

namespace wrn::train {

FlatParameters::FlatParameters(torch::nn::Module& module) {
  for (auto& p : module.parameters(/*recurse=*/true)) {
    if (p.requires_grad()) parameters_.push_back(p);
  }
  WRN_CHECK(!parameters_.empty(), "the model has no trainable parameters");
  const auto dtype = parameters_.front().scalar_type();
  const auto device = parameters_.front().device();
  int64_t total = 0;
  for (const auto& p : parameters_) {
    WRN_CHECK(p.is_floating_point() && p.scalar_type() == dtype && p.device() == device,
              "flat parameters need one floating dtype and one device; got {} on {} beside {} on {}",
              c10::toString(p.scalar_type()), p.device().str(), c10::toString(dtype), device.str());
    total += p.numel();
  }
  auto options = torch::TensorOptions().dtype(dtype).device(device);
  params_ = torch::empty({total}, options);
  grads_ = torch::zeros({total}, options);
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  for (auto& p : parameters_) {
    const int64_t n = p.numel();
    // A 4-D parameter in channels-last layout keeps it: its view is [N, H, W, C] permuted.
    const bool cl = has_channels_last_strides(p);  // by strides: C == 1 included
    auto view_of = [&](const torch::Tensor& flat) {
      auto s = flat.narrow(0, offset, n);
      if (!cl) return s.view(p.sizes());
      return s.view({p.size(0), p.size(2), p.size(3), p.size(1)}).permute({0, 3, 1, 2});
    };
    auto slice = view_of(params_);
    slice.copy_(p);
    p.set_data(slice);  // the module's own tensor now lives in the flat buffer
    p.mutable_grad() = view_of(grads_);
    offset += n;
  }
}

void FlatParameters::zero_grad() {
  if (grads_.defined()) grads_.zero_();
}

bool FlatParameters::aliased() const {
  if (!params_.defined()) return false;
  const size_t elem = params_.element_size();
  int64_t offset = 0;
  for (const auto& p : parameters_) {
    const auto* want_p = static_cast<const char*>(params_.data_ptr()) + offset * elem;
    const auto* want_g = static_cast<const char*>(grads_.data_ptr()) + offset * elem;
    if (p.data_ptr() != want_p) return false;
    if (!p.grad().defined() || p.grad().data_ptr() != want_g) return false;
    offset += p.numel();
  }
  return true;
}

torch::Tensor FlatParameters::decay_mask_without_vectors() const {
  auto mask = torch::ones({numel()}, params_.options());
  for (const auto& p : parameters_)
    if (p.dim() <= 1) mask.narrow(0, p.storage_offset() - params_.storage_offset(), p.numel()).zero_();
  return mask;
}

void clip_grad_norm(const torch::Tensor& grads, double max_norm) {
  torch::NoGradGuard no_grad;
  grads.mul_((max_norm / (grads.norm() + 1e-6)).clamp_max(1.0));
}

}  // namespace wrn::train
