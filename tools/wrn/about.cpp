#include "about.h"

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "wrn/core/cpu_features.h"
#include "wrn/core/text.h"
#include "wrn/core/threads.h"
#include "wrn/dist/communicator.h"

namespace wrn::cli {

namespace {

// KEY's value in at::show_config()'s "Build settings: KEY=value, ..." line, or "".
std::string build_setting(const std::string& config, const std::string& key) {
  const auto at = config.find(key + "=");
  if (at == std::string::npos) return "";
  const auto begin = at + key.size() + 1;
  return config.substr(begin, config.find_first_of(",\n", begin) - begin);
}

// The rest of the line of `config` that starts with `prefix` (after spaces and "- "), or "unknown".
std::string line_value(const std::string& config, const std::string& prefix) {
  const auto at = config.find(prefix);
  if (at == std::string::npos) return "unknown";
  const auto begin = at + prefix.size();
  return trim(config.substr(begin, config.find('\n', begin) - begin));
}

// The BLAS / LAPACK shared libraries mapped into this process (Debian picks libblas.so.3
// through alternatives: the reference BLAS or OpenBLAS), by file name.
std::string loaded_blas() {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> names;
  std::string line;
  while (std::getline(maps, line)) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const std::string lower = to_lower(path);
    if (lower.find("blas") == std::string::npos && lower.find("mkl_") == std::string::npos &&
        lower.find("libmkl") == std::string::npos)
      continue;
    if (lower.find("libcublas") != std::string::npos) continue;  // the GPU's, not the CPU's
    // Keep the folder for Debian's alternatives (.../openblas-pthread/libblas.so.3).
    const auto p = std::filesystem::path(path);
    names.insert((p.parent_path().filename() / p.filename()).string());
  }
  std::vector<std::string> out(names.begin(), names.end());
  return out.empty() ? "none mapped (linked into LibTorch)" : join(out, ", ");
}

}  // namespace

std::string version_text() {
  const std::string config = at::show_config();
  std::string out = fmt::format("wrn {}\n", kToolVersion);
  // WRN_TORCH_CUDA (CMake): whether wrn links LibTorch's CUDA libraries; a CUDA LibTorch without
  // the toolkit at build time gives a CPU-only wrn (cmake/WrnTorch.cmake).
  const std::string cuda_version = build_setting(config, "CUDA_VERSION");
  if (WRN_TORCH_CUDA) {
    out += fmt::format("LibTorch {} (CUDA {} build, cuDNN {}; NCCL collectives {})\n", TORCH_VERSION, cuda_version,
                       build_setting(config, "CUDNN_VERSION"), dist::nccl_compiled_in() ? "compiled in" : "not built");
    const bool cuda = torch::cuda::is_available();
    out += fmt::format("CUDA: {}; cuDNN: {}\n",
                       cuda ? fmt::format("available, {} device(s)", torch::cuda::device_count())
                            : "no device present (no GPU or no driver)",
                       cuda && torch::cuda::cudnn_is_available() ? "available" : "not available");
  } else {
    out += fmt::format("LibTorch {} (CPU-only build{})\n", TORCH_VERSION,
                       build_setting(config, "USE_CUDA") == "ON" ? ": LibTorch's CUDA libraries not linked" : "");
    out += "CUDA: not in this build\n";
  }
  const auto& cpu = cpu_features();
  std::vector<std::string> flags;
  for (const auto& [name, on] : cpu.list()) flags.push_back(name + (on ? " yes" : " no"));
  out += fmt::format("CPU: {}, {} hardware threads; {}\n", cpu.brand, hardware_threads(), join(flags, ", "));
  const std::string blas = build_setting(config, "BLAS_INFO");
  out += fmt::format("BLAS: ATen built with {} (BLAS_INFO); loaded: {}\n", blas.empty() ? "unknown" : blas,
                     loaded_blas());
  const auto upto = [](const std::string& s, const char* stop) { return s.substr(0, s.find(stop)); };
  out += fmt::format("ATen: CPU kernels {}; oneDNN {}\n", line_value(config, "CPU capability usage:"),
                     upto(at::get_mkldnn_version(), " (Git"));
  out += fmt::format("Threads: {}; intra-op {} (LibTorch's default; wrn uses all {} unless --threads), inter-op {}\n",
                     upto(at::get_openmp_version(), " (a.k.a"), at::get_num_threads(), hardware_threads(),
                     at::get_num_interop_threads());
  out.pop_back();  // CLI11 ends the version text's line
  return out;
}

}  // namespace wrn::cli
