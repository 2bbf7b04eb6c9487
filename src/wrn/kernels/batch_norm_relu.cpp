#include "wrn/kernels/batch_norm_relu.h"

#include <ATen/Version.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

#include <cmath>
#include <string>
#include <vector>

#include "wrn/core/cpu_features.h"
#include "wrn/kernels/batch_norm_relu_kernels.h"

namespace wrn::kernels {
namespace {

using detail::BnShape;

// ATen's own choice of kernels (ATEN_CPU_CAPABILITY=default forces the generic ones), and
// AVX2 only where the CPU has it and FMA.
const detail::BnReluKernelSet& kernel_set() {
#if defined(WRN_KERNELS_AVX2)
  static const bool avx2 = [] {
    const auto& f = cpu_features();
    const std::string aten = at::get_cpu_capability();
    return f.avx2 && f.fma && aten != "DEFAULT" && aten != "default";
  }();
  if (avx2) return detail::AVX2::bn_relu_kernels();
#endif
  return detail::DEFAULT::bn_relu_kernels();
}

bool is_channels_last(const at::Tensor& x) {
  return !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast);
}

// The layout the loops walk x in, for the tensors they write beside it.
at::MemoryFormat walked_format(const at::Tensor& x) {
  return is_channels_last(x) ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
}

// The two layouts the loops walk; other strides are copied contiguous first.
bool walkable_as_is(const at::Tensor& x) {
  return x.is_contiguous() || x.is_contiguous(at::MemoryFormat::ChannelsLast);
}
at::Tensor walkable(const at::Tensor& x) { return walkable_as_is(x) ? x : x.contiguous(); }

BnShape shape_of(const at::Tensor& x) {
  BnShape s;
  s.n = x.size(0);
  s.c = x.size(1);
  s.hw = x.size(2) * x.size(3);
  s.channels_last = is_channels_last(x);
  return s;
}

at::Tensor floats(int64_t n) { return at::empty({n}, at::TensorOptions().dtype(at::kFloat)); }

template <typename T>
const detail::BnReluLoops<T>& loops_for() {
  if constexpr (std::is_same_v<T, float>) {
    return kernel_set().f32;
  } else {
    return kernel_set().bf16;
  }
}

template <typename T>
BatchNormReluForward forward_as(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                const at::Tensor& running_mean, const at::Tensor& running_var, double momentum,
                                double eps, const at::Tensor& residual) {
  const BnShape s = shape_of(x);
  const auto& k = loops_for<T>();
  BatchNormReluForward out;
  out.x = x;
  out.mean = floats(s.c);
  out.invstd = floats(s.c);
  std::vector<double> var_sum(s.c);
  float* mean = out.mean.data_ptr<float>();
  k.stats(x.const_data_ptr<T>(), s, mean, var_sum.data());

  // ATen's batch_norm_cpu_update_stats_template and collect_linear_and_constant_terms: var_sum
  // rounded to float, invstd in double from it; alpha, beta in float.
  const double count = static_cast<double>(s.n * s.hw);
  std::vector<float> alpha(s.c), beta(s.c);
  const float* w = weight.const_data_ptr<float>();
  const float* b = bias.const_data_ptr<float>();
  float* invstd = out.invstd.data_ptr<float>();
  float* rm = running_mean.defined() ? running_mean.data_ptr<float>() : nullptr;
  float* rv = running_var.defined() ? running_var.data_ptr<float>() : nullptr;
  for (int64_t c = 0; c < s.c; ++c) {
    const float vs = static_cast<float>(var_sum[c]);
    invstd[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(vs) / count + eps));
    alpha[c] = invstd[c] * w[c];
    beta[c] = b[c] - mean[c] * alpha[c];
    if (rm) rm[c] = static_cast<float>(momentum * mean[c] + (1 - momentum) * static_cast<double>(rm[c]));
    if (rv) {
      const double unbiased = static_cast<double>(vs) / (count - 1);
      rv[c] = static_cast<float>(momentum * unbiased + (1 - momentum) * static_cast<double>(rv[c]));
    }
  }
  out.y = at::empty_like(x, walked_format(x));
  k.normalize_relu(x.const_data_ptr<T>(), residual.defined() ? residual.const_data_ptr<T>() : nullptr, s, alpha.data(),
                   beta.data(), out.y.data_ptr<T>());
  return out;
}

template <typename T>
BatchNormReluGrads backward_as(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& y,
                               const at::Tensor& mean_t, const at::Tensor& invstd_t, const at::Tensor& weight,
                               bool with_residual) {
  const BnShape s = shape_of(x);
  const auto& k = loops_for<T>();
  std::vector<double> sum_g(s.c), dot(s.c);
  const float* mean = mean_t.const_data_ptr<float>();
  k.backward_sums(dy.const_data_ptr<T>(), y.const_data_ptr<T>(), x.const_data_ptr<T>(), s, mean, sum_g.data(),
                  dot.data());

  // ATen's batch_norm_cpu_backward: k = dotp * invstd^2 / N and grad_mean = sum / N in float,
  // grad_weight = dotp * invstd, grad_bias = sum.
  const double count = static_cast<double>(s.n * s.hw);
  BatchNormReluGrads g;
  g.dweight = floats(s.c);
  g.dbias = floats(s.c);
  float* dw = g.dweight.data_ptr<float>();
  float* db = g.dbias.data_ptr<float>();
  const float* invstd = invstd_t.const_data_ptr<float>();
  const float* w = weight.const_data_ptr<float>();
  std::vector<float> kk(s.c), grad_mean(s.c), scale(s.c);
  for (int64_t c = 0; c < s.c; ++c) {
    kk[c] = static_cast<float>(dot[c]) * invstd[c] * invstd[c] / static_cast<float>(count);
    grad_mean[c] = static_cast<float>(sum_g[c] / count);
    scale[c] = invstd[c] * w[c];
    dw[c] = static_cast<float>(dot[c] * invstd[c]);
    db[c] = static_cast<float>(sum_g[c]);
  }
  g.dx = at::empty_like(x, walked_format(x));
  if (with_residual) g.dresidual = at::empty_like(x, walked_format(x));
  k.backward_dx(dy.const_data_ptr<T>(), y.const_data_ptr<T>(), x.const_data_ptr<T>(), s, mean, kk.data(),
                grad_mean.data(), scale.data(), g.dx.data_ptr<T>(), with_residual ? g.dresidual.data_ptr<T>() : nullptr);
  return g;
}

// What every loop reads as x: a non-empty 4-D float or bfloat16 CPU tensor (not oneDNN's, not sparse).
bool loop_activation(const at::Tensor& x) {
  return x.defined() && x.device().is_cpu() && x.dim() == 4 && !x.is_mkldnn() && !x.is_sparse() &&
         x.numel() > 0 && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16);
}

bool float_vector(const at::Tensor& t, int64_t c) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == at::kFloat && t.dim() == 1 && t.size(0) == c &&
         t.is_contiguous();
}

}  // namespace

bool batch_norm_relu_supported(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                               const at::Tensor& residual) {
  // One value a channel: BatchNorm's own error instead.
  if (!loop_activation(x) || x.size(0) * x.size(2) * x.size(3) < 2) return false;
  if (residual.defined() && (residual.sizes() != x.sizes() || residual.scalar_type() != x.scalar_type() ||
                             !residual.device().is_cpu()))
    return false;
  return float_vector(weight, x.size(1)) && float_vector(bias, x.size(1));
}

BatchNormReluForward batch_norm_relu_forward(const at::Tensor& x_in, const at::Tensor& weight,
                                             const at::Tensor& bias, const at::Tensor& running_mean,
                                             const at::Tensor& running_var, double momentum, double eps,
                                             const at::Tensor& residual_in) {
  TORCH_CHECK(batch_norm_relu_supported(x_in, weight, bias, residual_in),
              "batch_norm_relu_forward: unsupported tensors (x, weight, bias or residual; see batch_norm_relu_supported)");
  const int64_t c = x_in.size(1);
  TORCH_CHECK(!running_mean.defined() || float_vector(running_mean, c), "batch_norm_relu: running_mean");
  TORCH_CHECK(!running_var.defined() || float_vector(running_var, c), "batch_norm_relu: running_var");
  const at::Tensor x = walkable(x_in);
  // The residual in the layout the loops walk x in (the shortcut may come in the other one).
  const at::Tensor residual = residual_in.defined() ? residual_in.contiguous(walked_format(x)) : at::Tensor();
  return x.scalar_type() == at::kFloat
             ? forward_as<float>(x, weight, bias, running_mean, running_var, momentum, eps, residual)
             : forward_as<c10::BFloat16>(x, weight, bias, running_mean, running_var, momentum, eps, residual);
}

BatchNormReluGrads batch_norm_relu_backward(const at::Tensor& dy_in, const at::Tensor& x, const at::Tensor& y_in,
                                            const at::Tensor& mean, const at::Tensor& invstd,
                                            const at::Tensor& weight, bool with_residual) {
  const int64_t c = x.size(1);
  TORCH_CHECK(walkable_as_is(x), "batch_norm_relu_backward: x must be the forward's BatchNormReluForward::x");
  TORCH_CHECK(float_vector(mean, c) && float_vector(invstd, c) && float_vector(weight, c),
              "batch_norm_relu_backward: mean, invstd and weight must be float [C]");
  TORCH_CHECK(dy_in.sizes() == x.sizes() && y_in.sizes() == x.sizes() && dy_in.scalar_type() == x.scalar_type() &&
                  y_in.scalar_type() == x.scalar_type(),
              "batch_norm_relu_backward: dy and y must have x's shape and dtype");
  // dy, y in x's layout (the incoming gradient may come in the other one).
  const auto format = walked_format(x);
  const at::Tensor dy = dy_in.contiguous(format);
  const at::Tensor y = y_in.contiguous(format);
  return x.scalar_type() == at::kFloat ? backward_as<float>(dy, x, y, mean, invstd, weight, with_residual)
                                       : backward_as<c10::BFloat16>(dy, x, y, mean, invstd, weight, with_residual);
}

bool batch_norm_relu_inference_supported(const at::Tensor& x, const at::Tensor& weight,
                                         const at::Tensor& bias, const at::Tensor& running_mean,
                                         const at::Tensor& running_var) {
  if (!loop_activation(x) || !walkable_as_is(x)) return false;
  const int64_t c = x.size(1);
  return float_vector(weight, c) && float_vector(bias, c) && float_vector(running_mean, c) &&
         float_vector(running_var, c);
}

at::Tensor batch_norm_relu_inference(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                     const at::Tensor& running_mean, const at::Tensor& running_var,
                                     double eps, bool in_place) {
  TORCH_CHECK(batch_norm_relu_inference_supported(x, weight, bias, running_mean, running_var),
              "batch_norm_relu_inference: unsupported tensors (see batch_norm_relu_inference_supported)");
  // ATen's batch_norm_cpu_collect_linear_and_constant_terms in evaluation mode, in float.
  const int64_t c = x.size(1);
  std::vector<float> alpha(c), beta(c);
  const float* w = weight.const_data_ptr<float>();
  const float* b = bias.const_data_ptr<float>();
  const float* mean = running_mean.const_data_ptr<float>();
  const float* var = running_var.const_data_ptr<float>();
  for (int64_t i = 0; i < c; ++i) {
    const float invstd = 1 / std::sqrt(var[i] + static_cast<float>(eps));
    alpha[i] = invstd * w[i];
    beta[i] = b[i] - mean[i] * alpha[i];
  }
  at::Tensor y = in_place ? x : at::empty_like(x, walked_format(x));
  const BnShape s = shape_of(x);
  if (x.scalar_type() == at::kFloat)
    loops_for<float>().normalize_relu(x.const_data_ptr<float>(), nullptr, s, alpha.data(), beta.data(),
                                      y.data_ptr<float>());
  else
    loops_for<c10::BFloat16>().normalize_relu(x.const_data_ptr<c10::BFloat16>(), nullptr, s, alpha.data(),
                                              beta.data(), y.data_ptr<c10::BFloat16>());
  return y;
}

const char* batch_norm_relu_isa() {
#if defined(WRN_KERNELS_AVX2)
  if (&kernel_set() == &detail::AVX2::bn_relu_kernels()) return "avx2";
#endif
  return "default";
}

}  // namespace wrn::kernels
