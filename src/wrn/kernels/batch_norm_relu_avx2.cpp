// The fused BatchNorm+ReLU loops with ATen's AVX2 Vectorized (this file alone is compiled with
// -mavx2 -mfma, see src/CMakeLists.txt; used only where the CPU has AVX2 and FMA). An empty
// file on other architectures.
#if defined(WRN_KERNELS_AVX2)
#define CPU_CAPABILITY AVX2
#define CPU_CAPABILITY_AVX2
#include "wrn/kernels/batch_norm_relu_impl.h"
#endif
