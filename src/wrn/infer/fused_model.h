// An inference-only copy of a trained Classifier: BatchNorm folded into convolutions,
// ReLU applied in place after its convolution, no autograd, and a memory layout chosen for
// the CPU convolution library (oneDNN).
//
// How: a visitor over the three families turns the network into a small tree of ops
// (conv, channel affine, ReLU, max-pool, residual unit, pool + fc) using the public module
// tree (state_dict names) and the family options; a peephole pass then folds every
// BatchNorm that directly follows a convolution into that convolution's weight and bias:
//   post-activation ResNet (all activation orders): every conv-BN pair, downsample included;
//   pre-activation ResNet / WRN / full-preact ablation: bn_{i+1} following conv_i inside a
//   unit, and the ImageNet stem's bn1. BatchNorms that follow an addition (bn1 of a
//   pre-activation unit, final_bn, post-addition BN) stay as per-channel affines.
// LibTorch 1.13 exposes no fused conv+ReLU kernel (oneDNN post-ops arrive with
// mkldnn::_convolution_pointwise in 2.x), so ReLU runs in place on the conv output.
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>

#include "wrn/models/network.h"

namespace wrn::infer {

// Memory layout of the activations in the optimized path.
//   Contiguous:   NCHW, at::conv2d.
//   ChannelsLast: NHWC strides, at::conv2d (oneDNN reads NHWC without reorders).
//   Mkldnn:       oneDNN's opaque blocked tensors end to end, weights pre-packed once
//                 (what torch.utils.mkldnn does); fastest on these CPUs (see README).
enum class Layout { Contiguous, ChannelsLast, Mkldnn };

// "contiguous" | "channels_last" | "mkldnn"; throws ConfigError otherwise.
Layout parse_layout(const std::string& text);
std::string layout_name(Layout layout);
// Mkldnn where LibTorch was built with oneDNN and the model lives on the CPU, else ChannelsLast.
Layout default_layout();

struct FuseOptions {
  Layout layout = default_layout();
  bool fold_batchnorm = true;  // false: keep every BN as an affine (for measuring the folding alone)
};

// What the build did, for `wrn bench` and the tests.
struct FuseStats {
  int convs = 0;
  int folded_bns = 0;     // BatchNorms merged into a convolution
  int affine_bns = 0;     // BatchNorms kept (they follow an addition)
  int inplace_relus = 0;  // ReLUs run in place on a conv output
  std::string str() const;
};

// Contract: built from a Classifier of the zoo (ResNet, PreActResNet, WideResNet) on the CPU;
// forward(x) equals model->eval() forward on the same float [N, C, H, W] input up to float
// rounding (relative error < 1e-4). The fused copy owns its own weights: later changes to
// the model do not reach it. Dropout layers are dropped (evaluation semantics). Thread-safe
// for concurrent forward calls (it holds no mutable state).
// Throws ConfigError for a classifier of another family or an unsupported module layout.
class FusedClassifier {
 public:
  static FusedClassifier build(const models::Classifier& model, const FuseOptions& options = {});

  // Float [N, C, H, W] (any layout) -> dense float logits [N, classes]. Runs under
  // torch::InferenceMode.
  torch::Tensor forward(const torch::Tensor& x) const;

  const FuseStats& stats() const { return stats_; }
  Layout layout() const { return layout_; }
  int64_t num_classes() const { return num_classes_; }

  struct Program;  // the op tree (fused_model.cpp)

 private:
  std::shared_ptr<const Program> program_;
  FuseStats stats_;
  Layout layout_ = Layout::Contiguous;
  int64_t num_classes_ = 0;
};

}  // namespace wrn::infer
