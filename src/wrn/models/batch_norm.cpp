#include "wrn/models/batch_norm.h"

#include <torch/autograd.h>
#include <torch/nn/functional/activation.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "wrn/core/error.h"
#include "wrn/kernels/batch_norm_relu.h"

namespace wrn::models {
namespace {

thread_local CrossReplicaSum* g_sync = nullptr;

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// x: [N, C, H, W]; weight, bias: [C]. The CrossReplicaSum travels in the context (the backward
// may run on another thread).
class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, torch::Tensor running_mean, torch::Tensor running_var,
                               double momentum, double eps, int64_t sum_ptr) {
    auto* sum = reinterpret_cast<CrossReplicaSum*>(sum_ptr);
    const int64_t c = x.size(1);
    auto xf = x.to(torch::kFloat);
    // Count and sum in one message, then the centered squares.
    auto s1 = torch::cat({xf.sum({0, 2, 3}), torch::full({1}, static_cast<double>(x.numel() / c), xf.options())});
    sum->sum(s1);
    const double n = s1[c].item<double>();
    auto mean = s1.narrow(0, 0, c) / n;
    auto xmu = xf - mean.view({1, c, 1, 1});
    auto s2 = xmu.square().sum({0, 2, 3}).contiguous();
    sum->sum(s2);
    auto var = s2 / n;
    auto invstd = (var + eps).rsqrt();
    {
      torch::NoGradGuard no_grad;
      running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype()), momentum);
      running_var.mul_(1 - momentum).add_((var * (n / std::max(n - 1, 1.0))).to(running_var.dtype()), momentum);
    }
    auto y = xmu * (invstd * weight.to(torch::kFloat)).view({1, c, 1, 1}) + bias.to(torch::kFloat).view({1, c, 1, 1});
    ctx->save_for_backward({xmu, invstd, weight});
    ctx->saved_data["n"] = n;
    ctx->saved_data["sum"] = sum_ptr;
    return y.to(x.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &xmu = saved[0], &invstd = saved[1], &weight = saved[2];
    const double n = ctx->saved_data["n"].toDouble();
    auto* sum = reinterpret_cast<CrossReplicaSum*>(ctx->saved_data["sum"].toInt());
    const int64_t c = xmu.size(1);
    auto dy = grads[0].to(torch::kFloat);
    auto local_dy = dy.sum({0, 2, 3});
    auto local_dy_xmu = (dy * xmu).sum({0, 2, 3});
    auto both = torch::cat({local_dy, local_dy_xmu});
    sum->sum(both);
    auto mean_dy = (both.narrow(0, 0, c) / n).view({1, c, 1, 1});
    auto mean_dy_xmu = (both.narrow(0, c, c) / n).view({1, c, 1, 1});
    auto is = invstd.view({1, c, 1, 1});
    auto dx = (dy - mean_dy - xmu * is.square() * mean_dy_xmu) * (is * weight.to(torch::kFloat).view({1, c, 1, 1}));
    auto dw = local_dy_xmu * invstd;
    auto db = local_dy;
    return {dx.to(grads[0].scalar_type()), dw.to(weight.scalar_type()), db.to(weight.scalar_type()),
            torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// relu(batch_norm(x) [+ residual]) in training mode with batch statistics, by the fused
// kernels. Saves x (as BatchNorm does) and y (which the next convolution keeps anyway) for the
// backward. A residual, when given, gets the masked gradient.
class BatchNormReluFunction : public torch::autograd::Function<BatchNormReluFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const std::optional<torch::Tensor>& residual, const torch::Tensor& weight,
                               const torch::Tensor& bias, torch::Tensor running_mean,
                               torch::Tensor running_var, double momentum, double eps) {
    auto f = kernels::batch_norm_relu_forward(x, weight, bias, running_mean, running_var, momentum, eps,
                                              residual.value_or(torch::Tensor()));
    ctx->save_for_backward({f.x, f.y, f.mean, f.invstd, weight});
    ctx->saved_data["with_residual"] = residual.has_value();
    return f.y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    auto g = kernels::batch_norm_relu_backward(grads[0], saved[0], saved[1], saved[2], saved[3], saved[4],
                                               ctx->saved_data["with_residual"].toBool());
    return {g.dx, g.dresidual, g.dweight, g.dbias, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

std::atomic<int>& fused_flag() {
  static std::atomic<int> flag{[] {
    const char* v = std::getenv("WRN_FUSED_BN_RELU");
    return v && std::strcmp(v, "0") == 0 ? 0 : 1;
  }()};
  return flag;
}

// What BatchNorm2d's forward does in training besides the arithmetic: count the batch.
void count_training_batch(torch::nn::BatchNorm2dImpl& bn) {
  torch::NoGradGuard no_grad;
  bn.num_batches_tracked.add_(1);
}

}  // namespace

bool fused_batch_norm_relu() { return fused_flag().load() != 0; }
void set_fused_batch_norm_relu(bool on) { fused_flag().store(on ? 1 : 0); }

BatchNormSyncScope::BatchNormSyncScope(CrossReplicaSum* sum) : previous_(g_sync) { g_sync = sum; }
BatchNormSyncScope::~BatchNormSyncScope() { g_sync = previous_; }

torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  if (!g_sync || !bn.is_training()) return bn.forward(x);
  const auto& o = bn.options;
  WRN_CHECK(o.affine() && o.track_running_stats(), "sync_bn: expected affine BatchNorm with running statistics");
  count_training_batch(bn);
  const double momentum = o.momentum() ? *o.momentum() : 0.1;
  return SyncBatchNormFunction::apply(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, momentum, o.eps(),
                                      reinterpret_cast<int64_t>(g_sync));
}

namespace {

// Whether batch_norm_relu / batch_norm_add_relu take the fused kernels for bn, x (and residual).
bool fuses(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, const torch::Tensor& residual = {}) {
  const auto& o = bn.options;
  return fused_batch_norm_relu() && !g_sync && bn.is_training() && o.affine() && o.track_running_stats() &&
         o.momentum().has_value() && kernels::batch_norm_relu_supported(x, bn.weight, bn.bias, residual) &&
         bn.running_mean.scalar_type() == torch::kFloat && bn.running_var.scalar_type() == torch::kFloat;
}

}  // namespace

torch::Tensor batch_norm_relu(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  if (!fuses(bn, x)) return torch::nn::functional::relu(batch_norm(bn, x));
  count_training_batch(bn);
  const auto& o = bn.options;
  return BatchNormReluFunction::apply(x, std::nullopt, bn.weight, bn.bias, bn.running_mean, bn.running_var,
                                      *o.momentum(), o.eps());
}

torch::Tensor batch_norm_add_relu(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, const torch::Tensor& residual) {
  if (!fuses(bn, x, residual)) return torch::nn::functional::relu(batch_norm(bn, x) + residual);
  count_training_batch(bn);
  const auto& o = bn.options;
  return BatchNormReluFunction::apply(x, residual, bn.weight, bn.bias, bn.running_mean, bn.running_var,
                                      *o.momentum(), o.eps());
}

}  // namespace wrn::models
