// The fused BatchNorm+ReLU loops for the build's baseline instruction set (ATen's generic
// Vectorized, which the compiler vectorizes): any CPU, and the aarch64 build.
#define CPU_CAPABILITY DEFAULT
#include "wrn/kernels/batch_norm_relu_impl.h"
