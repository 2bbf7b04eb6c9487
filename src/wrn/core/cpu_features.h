// What the CPU offers, read with cpuid (x86-64; elsewhere every flag is false and the brand
// is the architecture's name). For `wrn --version` and bug reports: the speed of a run
// depends on them (bf16 matmuls on AMX/AVX-512-BF16, see DESIGN.md's hardware facts).
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

  // {("avx2", true), ...} in a fixed order, for printing.
  std::vector<std::pair<std::string, bool>> list() const;
};

// Never throws; computed once.
const CpuFeatures& cpu_features();

}  // namespace wrn
