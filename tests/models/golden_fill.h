// The deterministic fill shared with scripts/make_golden_models.py: every tensor's values
// come from splitmix64 seeded by FNV-1a of its state_dict name, so golden files need to
// store only names, shapes and the expected logits.
#pragma once

#include <torch/types.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace wrn::testing {

inline uint64_t fnv1a64(const std::string& text) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001B3ull;
  }
  return h;
}

// `count` doubles in [0, 1), as the Python script's uniform_stream.
inline torch::Tensor uniform_stream(const std::string& name, int64_t count) {
  auto out = torch::empty({count}, torch::kFloat64);
  double* p = out.data_ptr<double>();
  uint64_t state = fnv1a64(name);
  for (int64_t i = 0; i < count; ++i) {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    p[i] = static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
  }
  return out;
}

// The value the golden script puts into tensor `name` of `shape`.
inline torch::Tensor golden_value(const std::string& name, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  auto u = uniform_stream(name, n).reshape(shape);
  std::string leaf = name.substr(name.rfind('.') == std::string::npos ? 0 : name.rfind('.') + 1);
  if (leaf == "running_var") return 0.5 + u;
  if (leaf == "running_mean") return 0.2 * (u - 0.5);
  if (shape.size() >= 2) return (2 * u - 1) * std::sqrt(3.0 / static_cast<double>(n / shape[0]));
  if (leaf == "weight") return 0.5 + 0.5 * u;
  return 0.2 * (u - 0.5);
}

}  // namespace wrn::testing
