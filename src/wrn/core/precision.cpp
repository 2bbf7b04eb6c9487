#include "wrn/core/precision.h"

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <vector>

#include "wrn/core/cpu_features.h"
#include "wrn/core/error.h"
#include "wrn/core/text.h"

namespace wrn {

const char* precision_name(Precision p) { return enum_name(kPrecisions, p); }

Precision parse_precision(const std::string& text, const std::string& what) {
  if (auto p = find_enum(kPrecisions, text)) return *p;
  throw ConfigError(
      fmt::format("{} '{}': expected fp32, bf16, fp16 or auto{}", what, text, did_you_mean(text, enum_names(kPrecisions))));
}

c10::ScalarType compute_dtype(Precision p) {
  switch (p) {
    case Precision::Bf16:
      return c10::kBFloat16;
    case Precision::Fp16:
      return c10::kHalf;
    default:
      return c10::kFloat;
  }
}

bool cpu_has_bf16_hardware() {
  const auto& f = cpu_features();
  return f.amx_bf16 || f.avx512_bf16;
}

namespace {

std::string cpu_bf16_text() {
  const auto& f = cpu_features();
  if (f.amx_bf16 && f.avx512_bf16) return "AMX-BF16 and AVX-512-BF16";
  if (f.amx_bf16) return "AMX-BF16";
  if (f.avx512_bf16) return "AVX-512-BF16";
  return "neither AMX-BF16 nor AVX-512-BF16";
}

}  // namespace

ResolvedPrecision resolve_precision(Precision requested, const c10::Device& device, const std::string& what) {
  ResolvedPrecision r;
  if (device.is_cuda()) {
    // True exactly for compute capability >= 8.0 (Ampere and later) with cuDNN 8: the CUDA
    // hooks are the one capability query that links in a CPU-only LibTorch too.
    const bool bf16 = at::detail::getCUDAHooks().supportsBFloat16ConvolutionWithCuDNNv8();
    if (requested == Precision::Auto) {
      r.value = bf16 ? Precision::Bf16 : Precision::Fp32;
      r.reason = bf16 ? "auto: the CUDA device has compute capability >= 8.0"
                      : "auto: the CUDA device has compute capability < 8.0";
    } else {
      r.value = requested;
      r.reason = "as asked";
      if (requested == Precision::Bf16 && !bf16)
        r.warning = "bf16 on a CUDA device of compute capability < 8.0 runs without bf16 tensor cores (slow)";
    }
    return r;
  }
  WRN_CHECK(requested != Precision::Fp16,
            "{} fp16 needs a CUDA device (CPUs have no fast fp16 convolutions); use bf16 or fp32 on the CPU", what);
  const bool hw = cpu_has_bf16_hardware();
  if (requested == Precision::Auto) {
    r.value = hw ? Precision::Bf16 : Precision::Fp32;
    r.reason = fmt::format("auto: the CPU has {}", cpu_bf16_text());
  } else {
    r.value = requested;
    r.reason = "as asked";
    if (requested == Precision::Bf16 && !hw)
      r.warning = fmt::format("bf16 asked for, but the CPU has {}: it runs in software, slower than fp32",
                              cpu_bf16_text());
  }
  return r;
}

}  // namespace wrn
