#include "wrn/core/cpu_features.h"

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define WRN_X86 1
#endif

namespace wrn {

namespace {

#ifdef WRN_X86
struct Regs {
  unsigned a = 0, b = 0, c = 0, d = 0;
};

Regs cpuid(unsigned leaf, unsigned sub = 0) {
  Regs r;
  if (!__get_cpuid_count(leaf, sub, &r.a, &r.b, &r.c, &r.d)) r = Regs{};
  return r;
}

uint64_t xgetbv0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

CpuFeatures detect() {
  CpuFeatures f;
  const unsigned max_leaf = __get_cpuid_max(0, nullptr);
  const Regs l1 = cpuid(1);
  const bool osxsave = (l1.c >> 27) & 1;
  const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool os_avx = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
  const bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;  // opmask, ZMM_Hi256, Hi16_ZMM
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;    // XTILECFG + XTILEDATA
  f.fma = os_avx && ((l1.c >> 12) & 1);
  if (max_leaf >= 7) {
    const Regs l7 = cpuid(7, 0);
    f.avx2 = os_avx && ((l7.b >> 5) & 1);
    f.avx512f = os_avx512 && ((l7.b >> 16) & 1);
    f.amx_bf16 = os_amx && ((l7.d >> 22) & 1);
    f.amx_tile = os_amx && ((l7.d >> 24) & 1);
    const Regs l7s1 = l7.a >= 1 ? cpuid(7, 1) : Regs{};
    f.avx512_bf16 = os_avx512 && ((l7s1.a >> 5) & 1);
    const bool bw_vl_dq = os_avx512 && ((l7.b >> 30) & 1) && ((l7.b >> 31) & 1) && ((l7.b >> 17) & 1);
    const bool ne_convert = os_avx && ((l7s1.d >> 5) & 1);
    f.onednn_bf16 = bw_vl_dq || ne_convert;
  }
  if (__get_cpuid_max(0x80000000, nullptr) >= 0x80000004) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      const Regs r = cpuid(0x80000002 + i);
      std::memcpy(brand + 16 * i, &r, 16);
    }
    f.brand = brand;
    const auto first = f.brand.find_first_not_of(' ');
    f.brand = first == std::string::npos ? "" : f.brand.substr(first, f.brand.find_last_not_of(' ') - first + 1);
  }
  if (f.brand.empty()) f.brand = "x86-64";
  return f;
}
#else
CpuFeatures detect() {
  CpuFeatures f;
#if defined(__aarch64__)
  f.brand = "aarch64";
#else
  f.brand = "unknown architecture";
#endif
  return f;
}
#endif

}  // namespace

std::vector<std::pair<std::string, bool>> CpuFeatures::list() const {
  return {{"avx2", avx2},          {"fma", fma},           {"avx512f", avx512f},
          {"avx512_bf16", avx512_bf16}, {"amx_tile", amx_tile}, {"amx_bf16", amx_bf16}};
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

}  // namespace wrn
