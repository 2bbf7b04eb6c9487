// The fused BatchNorm+ReLU loops, compiled once per instruction set (batch_norm_relu_impl.h
// included by batch_norm_relu_default.cpp and, on x86-64, batch_norm_relu_avx2.cpp);
// batch_norm_relu.cpp picks one at run time. Raw pointers: the tensors are checked there.
#pragma once

#include <c10/util/BFloat16.h>

#include <cstdint>

namespace wrn::kernels::detail {

struct BnShape {
  int64_t n = 0, c = 0, hw = 0;  // [N, C, H*W]
  bool channels_last = false;    // memory [N, H*W, C] instead of [N, C, H*W]
};

template <typename T>
struct BnReluLoops {
  // mean[c] (float) and var_sum[c] = sum of (x - mean)^2 (double), over N*H*W values.
  void (*stats)(const T* x, BnShape s, float* mean, double* var_sum);
  // y = relu(x * alpha[c] + beta[c] + r), r = residual or 0 (nullptr)
  void (*normalize_relu)(const T* x, const T* residual, BnShape s, const float* alpha, const float* beta, T* y);
  // g = (y > 0 ? dy : 0): sum_g[c] = sum of g, dot[c] = sum of (x - mean[c]) * g (double)
  void (*backward_sums)(const T* dy, const T* y, const T* x, BnShape s, const float* mean, double* sum_g,
                        double* dot);
  // dx = (g - grad_mean[c] - (x - mean[c]) * k[c]) * scale[c]; dresidual = g (unless nullptr)
  void (*backward_dx)(const T* dy, const T* y, const T* x, BnShape s, const float* mean, const float* k,
                      const float* grad_mean, const float* scale, T* dx, T* dresidual);
};

struct BnReluKernelSet {
  BnReluLoops<float> f32;
  BnReluLoops<c10::BFloat16> bf16;
};

namespace DEFAULT {
const BnReluKernelSet& bn_relu_kernels();
}
#if defined(WRN_KERNELS_AVX2)
namespace AVX2 {
const BnReluKernelSet& bn_relu_kernels();
}
#endif

}  // namespace wrn::kernels::detail
