// The options several commands share, each declared once here: --threads, --device,
// --precision, --checkpoint and --batch-size. A command adds those it takes; the names, help
// texts and checks are then the same in every command.
#pragma once

#include <CLI/CLI.hpp>

#include <c10/core/Device.h>

#include <string>

#include "wrn/core/precision.h"

namespace wrn::train {
struct RunResult;
}  // namespace wrn::train

namespace wrn::cli {

// --threads N: intra-op CPU threads, 0: all cores (checked by wrn::configure_threads), bound to
// an int or an optional one (unset: the run's config). `config_key`: the config field it sets,
// shown in the help (train: "threads"); empty: none.
std::string threads_help(const std::string& config_key);
template <class T>
CLI::Option* add_threads_option(CLI::App* cmd, T& threads, const std::string& config_key = "") {
  return cmd->add_option("--threads", threads, threads_help(config_key));
}

// --device cpu|cuda|cuda:N|auto; `note` ends the help ("default: cpu", or train's config key).
CLI::Option* add_device_option(CLI::App* cmd, std::string& device, const std::string& note);

// --checkpoint FILE, required: a wrn checkpoint (.ckpt).
CLI::Option* add_checkpoint_option(CLI::App* cmd, std::string& path);

// --batch-size N (an int64_t, or an optional one); `help` says which batch.
template <class T>
CLI::Option* add_batch_size_option(CLI::App* cmd, T& size, const std::string& help) {
  return cmd->add_option("--batch-size", size, help);
}

// --precision on eval, predict and bench infer (train and resume pass it to the config):
// fp32 | bf16 | fp16 | auto, resolved for the device, with the choice and any warning said on
// stderr so that a --json stdout stays one object.
inline constexpr const char* kPrecisionHelp =
    "fp32, bf16, fp16 (CUDA) or auto: bf16 where the CPU/GPU has bf16 hardware, else fp32";

// Adds --precision (default auto) bound to `text`.
void add_precision_option(CLI::App* cmd, std::string& text);

// Resolves `text` for `device` (throws ConfigError naming --precision for a bad value or fp16
// on a CPU); unless `quiet`, prints "precision bf16 (auto: the CPU has AVX-512-BF16)" and any
// warning to stderr.
ResolvedPrecision resolve_precision_option(const std::string& text, const c10::Device& device, bool quiet = false);
// Prints that line (and the warning) for a precision resolved elsewhere (eval's library call).
void say_precision(const ResolvedPrecision& precision);

// The last line of a resumed run on stdout (wrn resume, and wrn train continuing its run):
// "done: N epochs, final test error E%, best epoch ...; see RUN/report.md".
void print_resumed_summary(const train::RunResult& result, const std::string& run_dir);

}  // namespace wrn::cli
