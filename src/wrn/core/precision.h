// The arithmetic precision of a run: what `precision:` in the config and `--precision` on
// train, resume, eval, predict and `bench infer` choose, and how `auto` is resolved.
//
//   fp32  everything in float32.
//   bf16  convolutions, linear layers and activations in bfloat16; master weights, the SGD
//         update, BatchNorm statistics, the loss and softmax stay float32 (optim/mixed_precision.h).
//   fp16  as bf16 with float16 and dynamic loss scaling (optim/loss_scaler.h); CUDA only:
//         CPUs have no fast fp16 convolutions in LibTorch.
//   auto  bf16 on a CPU with bf16 hardware (AMX-BF16 or AVX-512-BF16, read with cpuid) and on
//         a CUDA device of compute capability >= 8.0; fp32 otherwise.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <array>
#include <string>
#include <utility>

#include "wrn/core/enum_names.h"

namespace wrn {

enum class Precision { Fp32, Bf16, Fp16, Auto };

// The names, once (core/enum_names.h): precision_name/parse_precision and the config field's
// allowed values read them from here.
inline constexpr std::array<EnumName<Precision>, 4> kPrecisions{
    {{Precision::Auto, "auto"}, {Precision::Fp32, "fp32"}, {Precision::Bf16, "bf16"}, {Precision::Fp16, "fp16"}}};

// "fp32" | "bf16" | "fp16" | "auto".
const char* precision_name(Precision p);
// Throws wrn::ConfigError naming `what` and the allowed values (with a did-you-mean).
Precision parse_precision(const std::string& text, const std::string& what = "precision");

// The compute dtype of a resolved precision: Float, BFloat16 or Half.
c10::ScalarType compute_dtype(Precision p);

// True when the CPU has bf16 arithmetic in hardware (AMX-BF16 or AVX-512-BF16).
bool cpu_has_bf16_hardware();

struct ResolvedPrecision {
  Precision value = Precision::Fp32;  // never Auto
  std::string reason;   // one line for the start-up message: "auto: the CPU has AVX-512-BF16"
  std::string warning;  // non-empty when the choice runs but slowly (bf16 without hardware)
};

// Resolves `requested` for `device`. Throws wrn::ConfigError for fp16 on a CPU (one line,
// naming `what`). Never throws for auto.
ResolvedPrecision resolve_precision(Precision requested, const c10::Device& device,
                                    const std::string& what = "precision");

}  // namespace wrn
