#include "wrn/core/memory.h"

#include <torch/nn/module.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace wrn {

bool has_channels_last_strides(const torch::Tensor& t) {
  if (t.dim() != 4) return false;
  const int64_t c = t.size(1), h = t.size(2), w = t.size(3);
  const auto s = t.strides();
  return s[0] == h * w * c && s[1] == 1 && s[2] == w * c && s[3] == c;
}

torch::Tensor to_channels_last(const torch::Tensor& t) {
  if (t.dim() != 4 || has_channels_last_strides(t)) return t;
  return at::empty_like(t, at::MemoryFormat::ChannelsLast).copy_(t);
}

torch::Tensor batch_in_layout(const torch::Tensor& x, bool channels_last) {
  return channels_last ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
}

void parameters_to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters())
    if (p.dim() == 4) p.set_data(to_channels_last(p));  // C == 1 too
}

void tune_allocator() {
#if defined(__GLIBC__)
  // Both together: setting only one of them measured slower than neither.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
}

}  // namespace wrn
