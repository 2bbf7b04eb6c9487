// Parameter-free pieces shared by the residual families (and their inference graphs).
#pragma once

#include <torch/types.h>

#include "wrn/models/graph.h"

namespace wrn::models {

// Option A of the ResNet paper: the identity shortcut, subsampled by `stride`, with zero
// channels appended up to `out_channels` (as fb.resnet.torch's Concat(x, 0*x) does).
torch::Tensor zero_pad_shortcut(const torch::Tensor& x, int64_t out_channels, int64_t stride);

// The ImageNet stem's 3x3 max-pool with stride 2 and padding 1 (after the 7x7/2 conv),
// and its graph node.
torch::Tensor stem_max_pool(const torch::Tensor& x);
graph::Node stem_max_pool_node();

}  // namespace wrn::models
