// --precision on eval, predict and bench infer (train and resume pass it to the config):
// fp32 | bf16 | fp16 | auto, resolved for the device, with the choice and any warning said on
// stderr so that a --json stdout stays one object.
#pragma once

#include <CLI/CLI.hpp>

#include <c10/core/Device.h>

#include <string>

#include "wrn/core/precision.h"

namespace wrn::cli {

inline constexpr const char* kPrecisionHelp =
    "fp32, bf16, fp16 (CUDA) or auto: bf16 where the CPU/GPU has bf16 hardware, else fp32";

// Adds --precision (default auto) bound to `text`.
void add_precision_option(CLI::App* cmd, std::string& text);

// Resolves `text` for `device` (throws ConfigError naming --precision for a bad value or fp16
// on a CPU); unless `quiet`, prints "precision bf16 (auto: the CPU has AVX-512-BF16)" and any
// warning to stderr.
ResolvedPrecision resolve_precision_option(const std::string& text, const c10::Device& device, bool quiet = false);

}  // namespace wrn::cli
