// What the CPU offers, read with cpuid (x86-64; elsewhere every flag is false and the brand
// is the architecture's name). For `wrn --version` and bug reports: the speed of a run
// depends on them (bf16 matmuls run on AMX or AVX-512-BF16 hardware, and oneDNN takes bf16 weights
// in its own layout only with AVX-512 or AVX-NE-CONVERT: see onednn_bf16).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace wrn {

struct CpuFeatures {
  std::string brand;  // "Intel(R) Xeon(R) ...", "AMD EPYC ...", or "aarch64" etc.
  // The instruction-set extension the CPU reports and the OS has enabled (XCR0 state saved
  // for the AVX / AVX-512 / AMX registers).
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
  bool avx512_bf16 = false;
  bool amx_bf16 = false;
  bool amx_tile = false;
  // What oneDNN (LibTorch 2.x) asks of the CPU before it reorders or runs bf16 convolutions in
  // its own layout: AVX-512 BW+VL+DQ, or AVX-NE-CONVERT. Without them (an AVX2-only CPU) a bf16
  // mkldnn weight reorder is an error, while plain bf16 ops still run (in software).
  bool onednn_bf16 = false;

  // {("avx2", true), ...} in a fixed order, for printing.
  std::vector<std::pair<std::string, bool>> list() const;
};

// Never throws; computed once.
const CpuFeatures& cpu_features();

}  // namespace wrn
