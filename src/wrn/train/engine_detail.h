// Small helpers shared by the engine's files (engine.cpp, engine_checkpoint.cpp,
// engine_report.cpp). Internal to the train layer.
#pragma once

#include <chrono>
#include <cstdint>

namespace wrn::train::detail {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// SplitMix64: independent-looking seeds for (seed, epoch, role).
inline uint64_t mix_seed(uint64_t seed, uint64_t epoch, uint64_t role) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (epoch * 4 + role + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace wrn::train::detail
