// channels_last: auto. Which memory format trains this model faster on this machine is not a
// rule: channels-last measured 1.15x faster for WRN-16-4 in bf16 on an AMD Zen 4 and 5% slower
// in fp32 on a Zen 3 (docs/precision-and-speed.md), and it varies with the model, the batch and
// the CPU. So a run with `auto` times it when it starts.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>

#include <torch/types.h>

#include "wrn/models/registry.h"

namespace wrn::train {

struct LayoutProbe {
  bool channels_last = false;
  double nchw_seconds = 0, channels_last_seconds = 0;  // median training step of each
  std::string reason;  // "auto: a training step took 412 ms, 480 ms in NCHW"
};

// Times a training step (forward, cross-entropy, backward; no update) of two fresh copies of
// `spec`'s model, one in NCHW and one in channels-last, on a random batch of `batch` images in
// `dtype` (convolutions in dtype, BatchNorm in float32, as mixed-precision training computes):
// one warm-up step each, then `iters` alternating pairs (so both see the same machine), and
// compares the medians. channels_last is chosen only when faster by more than 3%: NCHW is the
// reference layout, and a smaller difference is within a shared machine's noise. The default
// generators of the CPU and of `device` are restored: the run's random streams do not change.
LayoutProbe probe_layout(const models::ModelSpec& spec, int64_t batch, c10::ScalarType dtype, c10::Device device,
                         int iters = 3);

// Seconds of one training step of `model` without the update: gradients set to none, forward,
// float32 cross-entropy against `labels`, backward (on CUDA, synchronized before and after).
// What the probe and `wrn bench step` time.
double training_step_seconds(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& labels);

}  // namespace wrn::train
