// The places where the supported LibTorch versions (2.11 to 2.15, cmake/WrnTorch.cmake) differ,
// or may, in an API the project uses. Everything else includes the public headers directly.
#pragma once

#include <torch/nn/options/conv.h>

#include <cstdint>
#include <optional>
#include <type_traits>
#include <vector>

namespace wrn::compat {

// A Conv2d's explicit padding (2 values), or nothing for kSame / kValid. The padding is a
// variant (std::variant in 2.x; `visit` unqualified, found by ADL, as it was c10::visit in 1.x).
inline std::optional<std::vector<int64_t>> explicit_padding(const torch::nn::detail::ConvNdOptions<2>& options) {
  std::optional<std::vector<int64_t>> out;
  visit(
      [&](const auto& p) {
        if constexpr (std::is_same_v<std::decay_t<decltype(p)>, torch::ExpandingArray<2>>) {
          out = std::vector<int64_t>{p->at(0), p->at(1)};
        }
      },
      options.padding());
  return out;
}

}  // namespace wrn::compat
