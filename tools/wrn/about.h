// What `wrn --version` prints: the tool's version, the LibTorch it runs on, the devices and
// CPU features it can use, the BLAS and the threads — what a bug report or a benchmark needs.
#pragma once

#include <string>

namespace wrn::cli {

inline constexpr const char* kToolVersion = "0.1.0";

// Several lines, the first "wrn 0.1.0".
std::string version_text();

}  // namespace wrn::cli
