// The fused BatchNorm+ReLU loops over ATen's Vectorized<float>, for one instruction set: the
// including file defines CPU_CAPABILITY (the namespace, as ATen's own kernels do, so that the
// AVX2 and the generic Vectorized never meet in one symbol). Included once per .cpp only.
// Keep shared inline code out of here: a weak (COMDAT) function compiled with -mavx2 could be
// the copy the linker keeps for the whole program. Checked on the GCC 12 build with
// `nm -C --defined-only batch_norm_relu_avx2.cpp.o | grep ' W ' | grep -v AVX2::`: no function.
//
// Reductions: float vector sums over a bounded span (kChunk values of a plane, or kRows rows of
// a channels_last tensor), then added in double in a fixed order, so that the result does not
// depend on the thread count and stays as close to ATen's double sums as float allows.
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "wrn/kernels/batch_norm_relu_kernels.h"

namespace wrn::kernels::detail::CPU_CAPABILITY {
namespace {

using Vec = at::vec::Vectorized<float>;
constexpr int64_t kV = Vec::size();
constexpr int64_t kStep = 2 * kV;  // values per iteration: two float vectors (one bf16 vector)
constexpr int64_t kChunk = 1024;   // float sums over at most this many values of a plane, then double
constexpr int64_t kRows = 64;      // channels_last: rows summed in float per block, then double

inline float to_float(float v) { return v; }
inline float to_float(c10::BFloat16 v) { return static_cast<float>(v); }

// Loads and stores kStep values as two float vectors.
template <typename T>
struct Lanes;
template <>
struct Lanes<float> {
  static void load(const float* p, Vec& a, Vec& b) {
    a = Vec::loadu(p);
    b = Vec::loadu(p + kV);
  }
  static void store(float* p, const Vec& a, const Vec& b) {
    a.store(p);
    b.store(p + kV);
  }
};
template <>
struct Lanes<c10::BFloat16> {
  using BVec = at::vec::Vectorized<c10::BFloat16>;
  static_assert(BVec::size() == kStep, "a bf16 vector holds two float vectors' values");
  static void load(const c10::BFloat16* p, Vec& a, Vec& b) {
    std::tie(a, b) = at::vec::convert_bfloat16_float(BVec::loadu(p));
  }
  static void store(c10::BFloat16* p, const Vec& a, const Vec& b) {  // round to nearest even
    at::vec::convert_float_bfloat16(a, b).store(p);
  }
};

// The value as the unfused op would have stored it in T (bf16: rounded to nearest even), for
// the BatchNorm output that ATen writes before the residual is added to it.
inline void round_as(float, Vec&, Vec&) {}
inline void round_as(c10::BFloat16, Vec& a, Vec& b) {
  std::tie(a, b) = at::vec::convert_bfloat16_float(at::vec::convert_float_bfloat16(a, b));
}
template <typename T>
float round_as(float v) {
  return to_float(static_cast<T>(v));
}

inline float lane_sum(const Vec& v) {
  float t[kV];
  v.store(t);
  float s = 0;
  for (int64_t i = 0; i < kV; ++i) s += t[i];
  return s;
}

// ReLU as clamp_min(v, 0): NaN stays NaN (the divergence check needs to see it).
inline float relu(float v) { return v > 0.f || v != v ? v : 0.f; }
inline Vec relu(const Vec& v) { return at::vec::clamp_min(v, Vec(0.f)); }

// The ReLU mask of the backward, as threshold_backward: the gradient where y > 0, else 0.
inline float masked(float dy, float y) { return y <= 0.f ? 0.f : dy; }
inline Vec masked(const Vec& dy, const Vec& y) { return Vec::blendv(dy, Vec(0.f), y <= Vec(0.f)); }

// kStep values of the masked gradient g from dy and y at the same offset.
template <typename T>
void load_masked_grad(const T* dy, const T* y, Vec& g0, Vec& g1) {
  Vec y0, y1;
  Lanes<T>::load(dy, g0, g1);
  Lanes<T>::load(y, y0, y1);
  g0 = masked(g0, y0);
  g1 = masked(g1, y1);
}

// ATen's batch_norm_backward for one value (float or Vec): (g - grad_mean - (x - mean) * k) * scale.
template <typename V>
V bn_grad_input(const V& g, const V& grad_mean, const V& x, const V& mean, const V& k, const V& scale) {
  return (g - grad_mean - (x - mean) * k) * scale;
}

// ---------------------------------------------------------------------------------------
// Contiguous [N, C, HW]: one channel per task (its N planes), one plane per normalize task.

// Sum over p[0, len) of x (kCentered false) or (x - m)^2.
template <bool kCentered, typename T>
double plane_sum(const T* p, int64_t len, float m) {
  double total = 0;
  const Vec vm(m);
  for (int64_t start = 0; start < len; start += kChunk) {
    const int64_t end = std::min(len, start + kChunk);
    Vec a0(0.f), a1(0.f);
    int64_t i = start;
    for (; i + kStep <= end; i += kStep) {
      Vec x0, x1;
      Lanes<T>::load(p + i, x0, x1);
      if constexpr (kCentered) {
        x0 = x0 - vm;
        x1 = x1 - vm;
        a0 = a0 + x0 * x0;
        a1 = a1 + x1 * x1;
      } else {
        a0 = a0 + x0;
        a1 = a1 + x1;
      }
    }
    float s = lane_sum(a0 + a1);
    for (; i < end; ++i) {
      float v = to_float(p[i]);
      if constexpr (kCentered) v = (v - m) * (v - m);
      s += v;
    }
    total += s;
  }
  return total;
}

template <typename T>
void stats_nchw(const T* x, BnShape s, float* mean, double* var_sum) {
  const double count = static_cast<double>(s.n * s.hw);
  at::parallel_for(0, s.c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double sum = 0;
      for (int64_t n = 0; n < s.n; ++n) sum += plane_sum<false>(x + (n * s.c + c) * s.hw, s.hw, 0.f);
      const float m = static_cast<float>(sum / count);
      double sq = 0;
      for (int64_t n = 0; n < s.n; ++n) sq += plane_sum<true>(x + (n * s.c + c) * s.hw, s.hw, m);
      mean[c] = m;
      var_sum[c] = sq;
    }
  });
}

// y = relu(x * a + b [+ r]) for kStep values at p (x, r, y at the same offset).
template <bool kResidual, typename T>
void normalize_relu_lanes(const T* x, const T* r, const Vec& a0, const Vec& a1, const Vec& b0, const Vec& b1, T* y) {
  Vec x0, x1;
  Lanes<T>::load(x, x0, x1);
  x0 = x0 * a0 + b0;
  x1 = x1 * a1 + b1;
  if constexpr (kResidual) {
    Vec r0, r1;
    Lanes<T>::load(r, r0, r1);
    round_as(T(), x0, x1);
    x0 = x0 + r0;
    x1 = x1 + r1;
  }
  Lanes<T>::store(y, relu(x0), relu(x1));
}
template <bool kResidual, typename T>
float normalize_one(T x, const T* r, float a, float b) {
  float v = to_float(x) * a + b;
  if constexpr (kResidual) v = round_as<T>(v) + to_float(*r);
  return relu(v);
}

template <bool kResidual, typename T>
void normalize_relu_nchw(const T* x, const T* r, BnShape s, const float* alpha, const float* beta, T* y) {
  at::parallel_for(0, s.n * s.c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t c = plane % s.c;
      const float a = alpha[c], b = beta[c];
      const Vec va(a), vb(b);
      const int64_t off = plane * s.hw;
      const T* rp = kResidual ? r + off : nullptr;  // no arithmetic on the null pointer
      int64_t i = 0;
      for (; i + kStep <= s.hw; i += kStep)
        normalize_relu_lanes<kResidual>(x + off + i, kResidual ? rp + i : nullptr, va, va, vb, vb, y + off + i);
      for (; i < s.hw; ++i)
        y[off + i] = static_cast<T>(normalize_one<kResidual>(x[off + i], kResidual ? rp + i : nullptr, a, b));
    }
  });
}

// sum of g and of (x - m) * g over one plane, g the masked gradient.
template <typename T>
void plane_grad_sums(const T* dy, const T* y, const T* x, int64_t len, float m, double& sum_g, double& dot) {
  const Vec vm(m);
  for (int64_t start = 0; start < len; start += kChunk) {
    const int64_t end = std::min(len, start + kChunk);
    Vec s0(0.f), s1(0.f), d0(0.f), d1(0.f);
    int64_t i = start;
    for (; i + kStep <= end; i += kStep) {
      Vec g0, g1, x0, x1;
      load_masked_grad(dy + i, y + i, g0, g1);
      Lanes<T>::load(x + i, x0, x1);
      s0 = s0 + g0;
      s1 = s1 + g1;
      d0 = d0 + (x0 - vm) * g0;
      d1 = d1 + (x1 - vm) * g1;
    }
    float sg = lane_sum(s0 + s1), sd = lane_sum(d0 + d1);
    for (; i < end; ++i) {
      const float g = masked(to_float(dy[i]), to_float(y[i]));
      sg += g;
      sd += (to_float(x[i]) - m) * g;
    }
    sum_g += sg;
    dot += sd;
  }
}

template <typename T>
void backward_sums_nchw(const T* dy, const T* y, const T* x, BnShape s, const float* mean, double* sum_g,
                        double* dot) {
  at::parallel_for(0, s.c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double sg = 0, sd = 0;
      for (int64_t n = 0; n < s.n; ++n) {
        const int64_t off = (n * s.c + c) * s.hw;
        plane_grad_sums(dy + off, y + off, x + off, s.hw, mean[c], sg, sd);
      }
      sum_g[c] = sg;
      dot[c] = sd;
    }
  });
}

template <bool kResidual, typename T>
void backward_dx_nchw(const T* dy, const T* y, const T* x, BnShape s, const float* mean, const float* k,
                      const float* grad_mean, const float* scale, T* dx, T* dr) {
  at::parallel_for(0, s.n * s.c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t c = plane % s.c;
      const float m = mean[c], kc = k[c], gm = grad_mean[c], sc = scale[c];
      const Vec vm(m), vk(kc), vgm(gm), vsc(sc);
      const int64_t off = plane * s.hw;
      int64_t i = 0;
      for (; i + kStep <= s.hw; i += kStep) {
        Vec g0, g1, x0, x1;
        load_masked_grad(dy + off + i, y + off + i, g0, g1);
        Lanes<T>::load(x + off + i, x0, x1);
        Lanes<T>::store(dx + off + i, bn_grad_input(g0, vgm, x0, vm, vk, vsc), bn_grad_input(g1, vgm, x1, vm, vk, vsc));
        if constexpr (kResidual) Lanes<T>::store(dr + off + i, g0, g1);  // exact: g is dy or 0
      }
      for (; i < s.hw; ++i) {
        const float g = masked(to_float(dy[off + i]), to_float(y[off + i]));
        dx[off + i] = static_cast<T>(bn_grad_input(g, gm, to_float(x[off + i]), m, kc, sc));
        if constexpr (kResidual) dr[off + i] = static_cast<T>(g);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------
// channels_last [N*HW, C]: blocks of kRows rows, each summed per channel in float into its own
// row of a partial buffer, then the blocks added in order in double.

// Adds, for each channel, f(row) over rows [r0, r1) into acc (float [C] per output).
// kMode 0: x; 1: (x - mean)^2; 2: g and (x - mean) * g into acc and acc2.
template <int kMode, typename T>
void rows_sum(const T* x, const T* dy, const T* y, int64_t c_count, int64_t r0, int64_t r1, const float* mean,
              float* acc, float* acc2) {
  std::fill(acc, acc + c_count, 0.f);
  if constexpr (kMode == 2) std::fill(acc2, acc2 + c_count, 0.f);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t off = r * c_count;
    int64_t c = 0;
    for (; c + kStep <= c_count; c += kStep) {
      Vec x0, x1;
      Lanes<T>::load(x + off + c, x0, x1);
      Vec a0 = Vec::loadu(acc + c), a1 = Vec::loadu(acc + c + kV);
      if constexpr (kMode == 0) {
        a0 = a0 + x0;
        a1 = a1 + x1;
      } else {
        x0 = x0 - Vec::loadu(mean + c);
        x1 = x1 - Vec::loadu(mean + c + kV);
        if constexpr (kMode == 1) {
          a0 = a0 + x0 * x0;
          a1 = a1 + x1 * x1;
        } else {
          Vec g0, g1;
          load_masked_grad(dy + off + c, y + off + c, g0, g1);
          a0 = a0 + g0;
          a1 = a1 + g1;
          Vec b0 = Vec::loadu(acc2 + c), b1 = Vec::loadu(acc2 + c + kV);
          (b0 + x0 * g0).store(acc2 + c);
          (b1 + x1 * g1).store(acc2 + c + kV);
        }
      }
      a0.store(acc + c);
      a1.store(acc + c + kV);
    }
    for (; c < c_count; ++c) {
      const float v = to_float(x[off + c]);
      if constexpr (kMode == 0) {
        acc[c] += v;
      } else if constexpr (kMode == 1) {
        acc[c] += (v - mean[c]) * (v - mean[c]);
      } else {
        const float g = masked(to_float(dy[off + c]), to_float(y[off + c]));
        acc[c] += g;
        acc2[c] += (v - mean[c]) * g;
      }
    }
  }
}

// out[c] = the double sum over blocks, in block order, of partial[block][c].
void reduce_blocks(const std::vector<float>& partial, int64_t blocks, int64_t c_count, double* out) {
  at::parallel_for(0, c_count, 16, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double t = 0;
      for (int64_t b = 0; b < blocks; ++b) t += partial[b * c_count + c];
      out[c] = t;
    }
  });
}

template <int kMode, typename T>
void sum_nhwc(const T* x, const T* dy, const T* y, BnShape s, const float* mean, double* out, double* out2) {
  const int64_t rows = s.n * s.hw, blocks = (rows + kRows - 1) / kRows;
  std::vector<float> partial(blocks * s.c), partial2(kMode == 2 ? blocks * s.c : 0);
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      rows_sum<kMode>(x, dy, y, s.c, b * kRows, std::min(rows, (b + 1) * kRows), mean, partial.data() + b * s.c,
                      kMode == 2 ? partial2.data() + b * s.c : nullptr);
    }
  });
  reduce_blocks(partial, blocks, s.c, out);
  if constexpr (kMode == 2) reduce_blocks(partial2, blocks, s.c, out2);
}

template <typename T>
void stats_nhwc(const T* x, BnShape s, float* mean, double* var_sum) {
  const double count = static_cast<double>(s.n * s.hw);
  std::vector<double> sum(s.c);
  sum_nhwc<0>(x, x, x, s, nullptr, sum.data(), nullptr);
  for (int64_t c = 0; c < s.c; ++c) mean[c] = static_cast<float>(sum[c] / count);
  sum_nhwc<1>(x, x, x, s, mean, var_sum, nullptr);
}

template <typename T>
void backward_sums_nhwc(const T* dy, const T* y, const T* x, BnShape s, const float* mean, double* sum_g,
                        double* dot) {
  sum_nhwc<2>(x, dy, y, s, mean, sum_g, dot);
}

// Per row, vectors over the channels; the per-channel constants are loaded beside the data.
template <bool kResidual, typename T>
void normalize_relu_nhwc(const T* x, const T* res, BnShape s, const float* alpha, const float* beta, T* y) {
  at::parallel_for(0, s.n * s.hw, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t off = r * s.c;
      const T* rp = kResidual ? res + off : nullptr;  // no arithmetic on the null pointer
      int64_t c = 0;
      for (; c + kStep <= s.c; c += kStep)
        normalize_relu_lanes<kResidual>(x + off + c, kResidual ? rp + c : nullptr, Vec::loadu(alpha + c),
                                        Vec::loadu(alpha + c + kV), Vec::loadu(beta + c), Vec::loadu(beta + c + kV),
                                        y + off + c);
      for (; c < s.c; ++c)
        y[off + c] = static_cast<T>(normalize_one<kResidual>(x[off + c], kResidual ? rp + c : nullptr, alpha[c], beta[c]));
    }
  });
}

template <bool kResidual, typename T>
void backward_dx_nhwc(const T* dy, const T* y, const T* x, BnShape s, const float* mean, const float* k,
                      const float* grad_mean, const float* scale, T* dx, T* dr) {
  at::parallel_for(0, s.n * s.hw, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t off = r * s.c;
      int64_t c = 0;
      for (; c + kStep <= s.c; c += kStep) {
        Vec g0, g1, x0, x1;
        load_masked_grad(dy + off + c, y + off + c, g0, g1);
        Lanes<T>::load(x + off + c, x0, x1);
        auto vec = [](const float* p, int64_t i) { return Vec::loadu(p + i); };  // per-channel constants
        Lanes<T>::store(dx + off + c,
                        bn_grad_input(g0, vec(grad_mean, c), x0, vec(mean, c), vec(k, c), vec(scale, c)),
                        bn_grad_input(g1, vec(grad_mean, c + kV), x1, vec(mean, c + kV), vec(k, c + kV),
                                      vec(scale, c + kV)));
        if constexpr (kResidual) Lanes<T>::store(dr + off + c, g0, g1);
      }
      for (; c < s.c; ++c) {
        const float g = masked(to_float(dy[off + c]), to_float(y[off + c]));
        dx[off + c] = static_cast<T>(bn_grad_input(g, grad_mean[c], to_float(x[off + c]), mean[c], k[c], scale[c]));
        if constexpr (kResidual) dr[off + c] = static_cast<T>(g);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------
// The layout switch, once per call.

template <typename T>
void stats(const T* x, BnShape s, float* mean, double* var_sum) {
  s.channels_last ? stats_nhwc(x, s, mean, var_sum) : stats_nchw(x, s, mean, var_sum);
}
template <bool kResidual, typename T>
void normalize_relu_as(const T* x, const T* r, BnShape s, const float* alpha, const float* beta, T* y) {
  s.channels_last ? normalize_relu_nhwc<kResidual>(x, r, s, alpha, beta, y)
                  : normalize_relu_nchw<kResidual>(x, r, s, alpha, beta, y);
}
template <typename T>
void normalize_relu(const T* x, const T* r, BnShape s, const float* alpha, const float* beta, T* y) {
  r ? normalize_relu_as<true>(x, r, s, alpha, beta, y) : normalize_relu_as<false>(x, r, s, alpha, beta, y);
}
template <typename T>
void backward_sums(const T* dy, const T* y, const T* x, BnShape s, const float* mean, double* sum_g, double* dot) {
  s.channels_last ? backward_sums_nhwc(dy, y, x, s, mean, sum_g, dot)
                  : backward_sums_nchw(dy, y, x, s, mean, sum_g, dot);
}
template <bool kResidual, typename T>
void backward_dx_as(const T* dy, const T* y, const T* x, BnShape s, const float* mean, const float* k,
                    const float* grad_mean, const float* scale, T* dx, T* dr) {
  s.channels_last ? backward_dx_nhwc<kResidual>(dy, y, x, s, mean, k, grad_mean, scale, dx, dr)
                  : backward_dx_nchw<kResidual>(dy, y, x, s, mean, k, grad_mean, scale, dx, dr);
}
template <typename T>
void backward_dx(const T* dy, const T* y, const T* x, BnShape s, const float* mean, const float* k,
                 const float* grad_mean, const float* scale, T* dx, T* dr) {
  dr ? backward_dx_as<true>(dy, y, x, s, mean, k, grad_mean, scale, dx, dr)
     : backward_dx_as<false>(dy, y, x, s, mean, k, grad_mean, scale, dx, dr);
}

template <typename T>
constexpr BnReluLoops<T> loops() {
  return {&stats<T>, &normalize_relu<T>, &backward_sums<T>, &backward_dx<T>};
}

}  // namespace

const BnReluKernelSet& bn_relu_kernels() {
  static const BnReluKernelSet set{loops<float>(), loops<c10::BFloat16>()};
  return set;
}

}  // namespace wrn::kernels::detail::CPU_CAPABILITY
