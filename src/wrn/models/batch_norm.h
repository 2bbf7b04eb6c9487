// BatchNorm as the blocks call it: the module's own forward, or, inside a BatchNormSyncScope
// and in training mode, synchronized BatchNorm (model.sync_bn), whose batch statistics are
// those of the global batch over every data-parallel rank.
//
// Synchronized BatchNorm (the arithmetic of torch.nn.SyncBatchNorm):
//   forward:  mean = sum(x) / N and var = sum((x - mean)^2) / N over all ranks' N pixels
//             (two cross-replica sums: the centered second pass keeps fp32 exact enough);
//             running_mean/var updated with the unbiased var, as BatchNorm2d does.
//   backward: sum(dy) and sum(dy * (x - mean)) summed over ranks, then
//             dx = w * invstd * (dy - sum_dy / N - (x - mean) * invstd^2 * sum_dy_xmu / N);
//             dw, db are this rank's sums (the gradient reduction averages them).
// The models layer knows no communication: the scope supplies the sum.
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/types.h>

namespace wrn::models {

// Sums a small float tensor over the data-parallel ranks, in place.
class CrossReplicaSum {
 public:
  virtual ~CrossReplicaSum() = default;
  virtual void sum(torch::Tensor& t) = 0;
};

// While alive, batch_norm() on this thread synchronizes over `sum` (nullptr: no effect).
class BatchNormSyncScope {
 public:
  explicit BatchNormSyncScope(CrossReplicaSum* sum);
  ~BatchNormSyncScope();
  BatchNormSyncScope(const BatchNormSyncScope&) = delete;
  BatchNormSyncScope& operator=(const BatchNormSyncScope&) = delete;

 private:
  CrossReplicaSum* previous_;
};

torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x);

// relu(batch_norm(bn, x)), as one fused kernel (wrn/kernels/batch_norm_relu.h) in training mode
// on the CPU for float/bf16 activations when fused_batch_norm_relu() is on and no sync scope is
// active; otherwise the two ops. Same arithmetic either way (tests/kernels).
torch::Tensor batch_norm_relu(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x);

// relu(batch_norm(bn, x) + residual): the end of a post-activation residual block, fused the
// same way (under the same conditions, and residual of x's shape and dtype).
torch::Tensor batch_norm_add_relu(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, const torch::Tensor& residual);

// Whether batch_norm_relu fuses (default: on; WRN_FUSED_BN_RELU=0 in the environment turns it
// off, for comparing the two paths). Process-wide.
bool fused_batch_norm_relu();
void set_fused_batch_norm_relu(bool on);

}  // namespace wrn::models
