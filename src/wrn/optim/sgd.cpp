#include "wrn/optim/sgd.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include "wrn/core/error.h"
#include "wrn/core/memory.h"

namespace wrn::train {

void SgdOptions::validate(const std::string& what) const {
  WRN_CHECK(lr > 0 && std::isfinite(lr), "{}.lr must be a positive number, got {}", what, lr);
  WRN_CHECK(momentum >= 0 && momentum < 1, "{}.momentum must be in [0, 1), got {}", what, momentum);
  WRN_CHECK(dampening >= 0 && dampening <= 1, "{}.dampening must be in [0, 1], got {}", what, dampening);
  WRN_CHECK(weight_decay >= 0 && std::isfinite(weight_decay), "{}.weight_decay must be >= 0, got {}", what,
            weight_decay);
  WRN_CHECK(!nesterov || (momentum > 0 && dampening == 0),
            "{}.nesterov needs momentum > 0 and dampening 0 (got momentum {}, dampening {})", what, momentum,
            dampening);
}

Sgd::Sgd(torch::Tensor params, torch::Tensor grads, SgdOptions options, SgdKernel kernel)
    : params_(std::move(params)), grads_(std::move(grads)), options_(options) {
  WRN_CHECK(params_.defined() && grads_.defined() && params_.dim() == 1 && params_.is_contiguous() &&
                grads_.sizes() == params_.sizes() && grads_.is_contiguous(),
            "Sgd needs contiguous 1-D parameter and gradient buffers of one size");
  options_.validate();
  buffer_ = torch::zeros_like(params_);
  const bool can_fuse = params_.device().is_cpu() && params_.scalar_type() == torch::kFloat;
  fused_ = can_fuse && kernel != SgdKernel::Tensor;
}

void Sgd::step(double lr) {
  torch::NoGradGuard no_grad;
  double wd = options_.weight_decay;
  if (decay_mask_.defined() && wd != 0) {  // the masked decay first, then the step without it
    grads_.addcmul_(params_, decay_mask_, wd);
    wd = 0;
  }
  if (fused_) {
    step_fused(lr, wd);
  } else {
    step_tensor(lr, wd);
  }
  ++steps_;
}

void Sgd::step_tensor(double lr, double weight_decay) {
  const auto& o = options_;
  if (weight_decay != 0) grads_.add_(params_, weight_decay);  // g = g + wd * p
  if (o.momentum == 0) {
    params_.add_(grads_, -lr);
    return;
  }
  if (!has_buffer_) {
    buffer_.copy_(grads_);
    has_buffer_ = true;
  } else {
    buffer_.mul_(o.momentum).add_(grads_, 1 - o.dampening);
  }
  if (o.nesterov) {
    grads_.add_(buffer_, o.momentum);
    params_.add_(grads_, -lr);
  } else {
    params_.add_(buffer_, -lr);
  }
}

namespace {

// a + alpha * b the way ATen's vectorized add(a, b, alpha) computes it: one fused
// multiply-add where the CPU has FMA (ATen's AVX2/AVX-512 kernels use vfmadd), so the
// fused step matches torch.optim.SGD's tensor ops to the last bit there.
template <bool kFma>
inline __attribute__((always_inline)) float madd(float a, float alpha, float b) {
  if constexpr (kFma) {
    return __builtin_fmaf(alpha, b, a);
  } else {
    return a + alpha * b;
  }
}

// One pass over [begin, end). The template flags remove the branches from the inner loop
// so the compiler vectorizes it. The arithmetic mirrors the tensor ops of step_tensor
// (and torch.optim.SGD) operation by operation.
template <bool kFma, bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>
inline __attribute__((always_inline)) void sgd_range(float* __restrict p, float* __restrict g, float* __restrict b,
                                                      int64_t begin, int64_t end, float wd, float m,
                                                      float one_minus_d, float neg_lr) {
  for (int64_t i = begin; i < end; ++i) {
    float gi = g[i];
    if (kDecay) gi = madd<kFma>(gi, wd, p[i]);
    if (kMomentum) {
      float bi;
      if (kFirst) {
        bi = gi;
      } else {
        bi = b[i] * m;
        bi = madd<kFma>(bi, one_minus_d, gi);
      }
      b[i] = bi;
      gi = kNesterov ? madd<kFma>(gi, m, bi) : bi;
    }
    p[i] = madd<kFma>(p[i], neg_lr, gi);
  }
}

struct Args {
  float *p, *g, *b;
  float wd, m, omd, neg_lr;
};

// The FMA variant. On x86-64 it is compiled for AVX2+FMA and chosen at run time (below); on
// other CPUs it is plain code, where __builtin_fmaf is a single instruction when the target
// has FMA (AArch64 always does; ATen's NEON add uses vfmaq, so the results match there too).
#if defined(__x86_64__) || defined(__i386__)
#define WRN_SGD_FMA_TARGET __attribute__((target("avx2,fma")))
#else
#define WRN_SGD_FMA_TARGET
#endif

template <bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>
WRN_SGD_FMA_TARGET void range_fma(const Args& a, int64_t begin, int64_t end) {
  sgd_range<true, kDecay, kMomentum, kFirst, kNesterov>(a.p, a.g, a.b, begin, end, a.wd, a.m, a.omd, a.neg_lr);
}

template <bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>
void range_plain(const Args& a, int64_t begin, int64_t end) {
  sgd_range<false, kDecay, kMomentum, kFirst, kNesterov>(a.p, a.g, a.b, begin, end, a.wd, a.m, a.omd, a.neg_lr);
}

// Whether ATen's vectorized add (the reference the fused step must match) uses a fused
// multiply-add on this CPU, and so whether range_fma may be used.
bool cpu_has_fma() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
#elif defined(__aarch64__) || defined(__FP_FAST_FMAF)
  return true;  // FMA is part of the base instruction set
#else
  return false;  // a + alpha * b, rounded twice, as ATen's scalar kernel computes it
#endif
}

template <bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>
void sgd_all(const torch::Tensor& params, const torch::Tensor& grads, const torch::Tensor& buffer,
             const SgdOptions& o, double weight_decay, double lr) {
  Args a{params.data_ptr<float>(), grads.data_ptr<float>(), buffer.data_ptr<float>(),
         static_cast<float>(weight_decay), static_cast<float>(o.momentum), static_cast<float>(1 - o.dampening),
         static_cast<float>(-lr)};
  const bool fma = cpu_has_fma();
  at::parallel_for(0, params.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
    if (fma) {
      range_fma<kDecay, kMomentum, kFirst, kNesterov>(a, begin, end);
    } else {
      range_plain<kDecay, kMomentum, kFirst, kNesterov>(a, begin, end);
    }
  });
}

}  // namespace

void Sgd::step_fused(double lr, double weight_decay) {
  const auto& o = options_;
  const bool decay = weight_decay != 0;
  const bool first = !has_buffer_;
#define WRN_SGD_CASE(D, M, F, N) \
  if (decay == D && (o.momentum != 0) == M && first == F && o.nesterov == N) { \
    sgd_all<D, M, F, N>(params_, grads_, buffer_, o, weight_decay, lr);                    \
  }
  WRN_SGD_CASE(true, true, true, true)
  else WRN_SGD_CASE(true, true, true, false)
  else WRN_SGD_CASE(true, true, false, true)
  else WRN_SGD_CASE(true, true, false, false)
  else WRN_SGD_CASE(false, true, true, true)
  else WRN_SGD_CASE(false, true, true, false)
  else WRN_SGD_CASE(false, true, false, true)
  else WRN_SGD_CASE(false, true, false, false)
  else if (decay) sgd_all<true, false, false, false>(params_, grads_, buffer_, o, weight_decay, lr);
  else sgd_all<false, false, false, false>(params_, grads_, buffer_, o, weight_decay, lr);
#undef WRN_SGD_CASE
  if (o.momentum != 0) has_buffer_ = true;
}

io::StateDict Sgd::state() const {
  return {{"momentum_buffer", buffer_.detach().to(torch::kCPU).clone()},
          {"has_buffer", torch::tensor(static_cast<int64_t>(has_buffer_))},
          {"steps", torch::tensor(steps_)}};
}

void Sgd::load_state(const io::StateDict& state) {
  auto find = [&](const std::string& key) { return io::find_tensor(state, key, "optimizer state"); };
  auto buf = find("momentum_buffer");
  WRN_CHECK_FILE(buf.numel() == buffer_.numel() && buf.scalar_type() == buffer_.scalar_type(),
                 "optimizer state has a momentum buffer of {} values ({}), the model has {} ({})", buf.numel(),
                 c10::toString(buf.scalar_type()), buffer_.numel(), c10::toString(buffer_.scalar_type()));
  torch::NoGradGuard no_grad;
  buffer_.copy_(buf.reshape({-1}));
  has_buffer_ = find("has_buffer").item<int64_t>() != 0;
  steps_ = find("steps").item<int64_t>();
}

void naive_sgd_step(const std::vector<torch::Tensor>& params, std::vector<torch::Tensor>& buffers,
                    bool& has_buffers, const SgdOptions& o, double lr) {
  torch::NoGradGuard no_grad;
  if (buffers.size() != params.size()) buffers.assign(params.size(), torch::Tensor());
  for (size_t i = 0; i < params.size(); ++i) {
    auto p = params[i];
    auto d_p = p.grad();
    if (o.weight_decay != 0) d_p = d_p.add(p, o.weight_decay);
    if (o.momentum != 0) {
      if (!has_buffers) {
        buffers[i] = d_p.clone();
      } else {
        buffers[i].mul_(o.momentum).add_(d_p, 1 - o.dampening);
      }
      d_p = o.nesterov ? d_p.add(buffers[i], o.momentum) : buffers[i];
    }
    p.add_(d_p, -lr);
  }
  if (o.momentum != 0) has_buffers = true;
}

}  // namespace wrn::train
