// Thread set-up. LibTorch defaults to one intra-op thread on these machines, so every
// command sets it explicitly.
#pragma once

namespace wrn {

// Sets LibTorch's intra-op thread count; 0 means "all cores". Returns the count in use.
// Throws ConfigError (naming --threads) for a negative count or one above max_threads():
// an absurd count (--threads 100000) would otherwise spawn threads until process IDs run out.
int configure_threads(int threads);

// The largest accepted thread count: 4x the hardware threads, but at least 64 so that a
// config written on a bigger machine still runs on a small one. The config field `threads`
// has the fixed bound 1024 (its table is machine-independent).
int max_threads();

// Number of hardware threads (at least 1).
int hardware_threads();

}  // namespace wrn
