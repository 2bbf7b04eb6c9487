// Training-mode BatchNorm followed by ReLU as one fused CPU kernel, forward and backward.
//
//   y = max(0, (x - mean) * invstd * weight + bias), mean and var over N, H, W (biased var),
//   invstd = 1 / sqrt(var + eps)
//
// Why: in a pre-activation block every BatchNorm feeds a ReLU. ATen runs them as three passes
// over the activation forward (statistics, normalize, ReLU; the NCHW statistics pass is a
// scalar loop in double) and two ops backward (threshold_backward writes the masked gradient,
// which batch_norm_backward then reads twice). Fused: one statistics pass and one
// normalize+ReLU pass forward; backward reads dy, y and x twice and writes dx once.
//
// The arithmetic is the unfused ops': fp32 per-channel sums accumulated in double chunks
// (ATen: double), mean and var rounded to float, invstd computed in double from them,
// y = x * alpha + beta with alpha = invstd * weight, beta = bias - mean * alpha in float; bf16
// activations are computed in float and rounded to nearest even once. The backward is ATen's
// batch_norm_backward of the ReLU-masked gradient (mask: y > 0, as threshold_backward).
// Results differ from the unfused ops only by the order of float additions (tests: within
// 1e-5 relative forward, 1e-4 for gradients in fp32; one bf16 rounding step in bf16).
// Deterministic: the same bits for any thread count (fixed blocks, reduced in a fixed order).
//
// With a residual r (the post-activation ResNet block's end, relu(bn(x) + shortcut)):
//   y = max(0, bn(x) + r), the BatchNorm output rounded to x's dtype before the add as the
// unfused ops store it; the backward also returns dr = the masked gradient (exactly what add's
// backward passes on). One pass fewer forward (no separate add) and backward.
#pragma once

#include <ATen/core/Tensor.h>

namespace wrn::kernels {

// Whether the fused kernels take these tensors: CPU, 4-D [N, C, H, W] with N*H*W >= 2, x
// float or bfloat16 (contiguous or channels_last; other strides are made contiguous), weight
// and bias float [C]; a defined `residual` on the CPU with x's shape and dtype (any strides).
bool batch_norm_relu_supported(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                               const at::Tensor& residual = {});

struct BatchNormReluForward {
  at::Tensor x;       // the input as the loops read it (x, or a contiguous copy of other strides): the backward's x
  at::Tensor y;       // x's dtype and memory format
  at::Tensor mean;    // float [C]: the batch mean
  at::Tensor invstd;  // float [C]: 1 / sqrt(biased batch var + eps)
};

// Requires batch_norm_relu_supported(x, weight, bias, residual). When running_mean/running_var are
// defined (float [C]) they are updated in place as BatchNorm2d does in training mode:
//   running = momentum * batch + (1 - momentum) * running, with the unbiased var.
// `residual`, when defined: x's shape and dtype (any strides), added before the ReLU.
BatchNormReluForward batch_norm_relu_forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                             const at::Tensor& running_mean, const at::Tensor& running_var,
                                             double momentum, double eps, const at::Tensor& residual = {});

struct BatchNormReluGrads {
  at::Tensor dx;         // x's dtype and memory format
  at::Tensor dweight;    // float [C]
  at::Tensor dbias;      // float [C]
  at::Tensor dresidual;  // with_residual: x's dtype and memory format, else undefined
};

// The gradients for dy (the gradient of y), from the forward's x (BatchNormReluForward::x), y,
// mean and invstd; with_residual: also the residual's.
BatchNormReluGrads batch_norm_relu_backward(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& y,
                                            const at::Tensor& mean, const at::Tensor& invstd,
                                            const at::Tensor& weight, bool with_residual = false);

// --- Inference (the optimized path, infer/fused_model.h): one pass each, in place allowed ---

// Whether batch_norm_relu_inference takes these tensors: x as batch_norm_relu_supported asks
// but any N*H*W >= 1 and only contiguous or channels_last strides; the four parameters float [C].
bool batch_norm_relu_inference_supported(const at::Tensor& x, const at::Tensor& weight,
                                         const at::Tensor& bias, const at::Tensor& running_mean,
                                         const at::Tensor& running_var);

// Evaluation-mode BatchNorm followed by ReLU (a pre-activation unit's BatchNorm, which follows
// an addition and so cannot be folded into a convolution):
//   y = max(0, x * alpha + beta),
//   alpha = weight / sqrt(running_var + eps), beta = bias - running_mean * alpha,
// with alpha and beta in float as ATen's eval batch_norm computes them. in_place: y is x's
// memory (x is overwritten); else a new tensor in x's layout.
at::Tensor batch_norm_relu_inference(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                     const at::Tensor& running_mean, const at::Tensor& running_var,
                                     double eps, bool in_place);

// The instruction set the kernels run with: "avx2" or "default" (portable C++ that the
// compiler vectorizes for the build's baseline). ATEN_CPU_CAPABILITY=default selects the latter
// as it does for ATen's own kernels.
const char* batch_norm_relu_isa();

}  // namespace wrn::kernels
