#include "wrn/models/shortcut.h"

#include <ATen/ATen.h>

namespace wrn::models {
namespace {
constexpr int64_t kStemPoolKernel = 3, kStemPoolStride = 2, kStemPoolPadding = 1;
}  // namespace

torch::Tensor zero_pad_shortcut(const torch::Tensor& x, int64_t out_channels, int64_t stride) {
  using torch::indexing::None;
  using torch::indexing::Slice;
  torch::Tensor s = stride == 1 ? x : x.index({Slice(), Slice(), Slice(None, None, stride), Slice(None, None, stride)});
  int64_t extra = out_channels - x.size(1);
  if (extra <= 0) return s;
  return at::constant_pad_nd(s, {0, 0, 0, 0, 0, extra}, 0.0);
}

torch::Tensor stem_max_pool(const torch::Tensor& x) {
  return at::max_pool2d(x, {kStemPoolKernel, kStemPoolKernel}, {kStemPoolStride, kStemPoolStride},
                        {kStemPoolPadding, kStemPoolPadding});
}

graph::Node stem_max_pool_node() { return graph::max_pool(kStemPoolKernel, kStemPoolStride, kStemPoolPadding); }

}  // namespace wrn::models
