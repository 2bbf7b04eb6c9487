// Thread set-up. LibTorch defaults to one intra-op thread on these machines, so every
// command sets it explicitly.
#pragma once

namespace wrn {

// Sets LibTorch's intra-op thread count; 0 means "all cores". Returns the count in use.
int configure_threads(int threads);

// Number of hardware threads (at least 1).
int hardware_threads();

}  // namespace wrn
