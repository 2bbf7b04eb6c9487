// Parameter-free pieces shared by the residual families.
#pragma once

#include <torch/types.h>

namespace wrn::models {

// Option A of the ResNet paper: the identity shortcut, subsampled by `stride`, with zero
// channels appended up to `out_channels` (as fb.resnet.torch's Concat(x, 0*x) does).
torch::Tensor zero_pad_shortcut(const torch::Tensor& x, int64_t out_channels, int64_t stride);

}  // namespace wrn::models
