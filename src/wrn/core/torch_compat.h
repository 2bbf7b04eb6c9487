// The one place where LibTorch 1.13 (Debian bookworm, CPU) and LibTorch 2.x (CUDA builds)
// differ in an API the project uses. Everything else includes the public headers directly.
#pragma once

#include <torch/version.h>

#define WRN_TORCH_VERSION_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||              \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace wrn::compat {

// "1.13.1", "2.11.0", ...
inline const char* torch_version() { return TORCH_VERSION; }

}  // namespace wrn::compat
