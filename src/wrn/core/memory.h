// Memory layout and allocator set-up shared by training and inference.
#pragma once

#include <torch/types.h>

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace wrn {

// True when a 4-D tensor's strides are exactly the channels-last ones ([N, H, W, C] in
// memory). Unlike is_contiguous(ChannelsLast) this is false for a contiguous tensor with one
// channel, whose two layouts coincide: oneDNN picks the convolution layout from the strides,
// so a grey-image model's first conv weight must carry channels-last strides explicitly.
bool has_channels_last_strides(const torch::Tensor& t);

// A copy of a 4-D tensor with channels-last strides, even when C == 1 (where
// contiguous(ChannelsLast) returns the tensor unchanged). Other tensors are returned as they are.
torch::Tensor to_channels_last(const torch::Tensor& t);

// A batch in the model's layout: contiguous(ChannelsLast) when `channels_last` (a one-channel
// batch reads the same either way), else the batch as it is. Training and evaluation both.
torch::Tensor batch_in_layout(const torch::Tensor& x, bool channels_last);

// Every 4-D parameter of `module` (its convolution weights) to_channels_last, in place; what a
// channels_last run does to its model before the first step. Under no_grad.
void parameters_to_channels_last(torch::nn::Module& module);

// Process-wide malloc settings for training and inference (glibc only; a no-op elsewhere).
// LibTorch's CPU allocator is plain posix_memalign/free: activations above glibc's dynamic
// mmap limit (32 MiB) are mapped, unmapped and faulted in again at every step. Raising the
// mmap threshold to 64 MiB and the trim threshold to 512 MiB keeps them in the heap: WRN-16-4
// at batch 128 on 2 cores trains ~1.4x faster (13.7M -> 0.3M page faults per 30 steps) at the
// cost of a larger resident set (0.9 -> 1.4 GB). Call once at start-up, before allocating.
void tune_allocator();

}  // namespace wrn
