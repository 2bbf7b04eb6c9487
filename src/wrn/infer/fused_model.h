// An inference-only copy of a trained Classifier: BatchNorm folded into convolutions,
// ReLU applied in place after its convolution, a kept BatchNorm and its ReLU in one pass, no
// autograd, and a memory layout chosen for the CPU convolution library (oneDNN).
//
// How: the network's op tree (inference_graph.h: one walker over the three families, BN
// folded, ReLUs merged into their convolution), with the conv weights packed once for the
// layout and run by a small interpreter.
// ReLU runs in place on the conv output. oneDNN's conv+ReLU / conv+add post-ops
// (mkldnn::_convolution_pointwise, what torch.compile's freezing runs) measured no faster than
// that on the CPUs tried (bench/conv_postop_probe.py), so they are not used.
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>

#include "wrn/infer/inference_graph.h"
#include "wrn/models/network.h"

namespace wrn::infer {

// Memory layout of the activations in the optimized path.
//   Contiguous:   NCHW, at::conv2d.
//   ChannelsLast: NHWC strides, at::conv2d (oneDNN reads NHWC without reorders).
//   Mkldnn:       oneDNN's opaque blocked tensors end to end, weights pre-packed once
//                 (what torch.utils.mkldnn does); the default with LibTorch 1.13, where it was
//                 the fastest; with 2.x's oneDNN ChannelsLast is as fast or faster
//                 (docs/precision-and-speed.md).
//                 Built as ChannelsLast instead off the CPU, without oneDNN, and for bf16 on a
//                 CPU without oneDNN's bf16 instructions (CpuFeatures::onednn_bf16).
enum class Layout { Contiguous, ChannelsLast, Mkldnn };

// "contiguous" | "channels_last" | "mkldnn"; throws ConfigError otherwise.
Layout parse_layout(const std::string& text);
std::string layout_name(Layout layout);
// ChannelsLast.
Layout default_layout();

struct FuseOptions {
  Layout layout = default_layout();
  bool fold_batchnorm = true;  // false: keep every BN as an affine (for measuring the folding alone)
  // Compute dtype of the convolutions, the classifier and the activations: Float or BFloat16
  // (folded weights rounded to bf16 once, at build; unfolded BN affines keep float32
  // parameters). Input and logits stay float32 at the interface.
  c10::ScalarType dtype = c10::kFloat;
};

// What the build did (BNs folded, ...), for `wrn bench` and the tests.
using FuseStats = GraphStats;

// Contract: built from a Classifier of the zoo (ResNet, PreActResNet, WideResNet) on the CPU;
// forward(x) equals model->eval() forward on the same float [N, C, H, W] input up to float
// rounding (relative error < 1e-4; bf16: about 1e-2, the dtype's own rounding). The fused copy owns its own weights: later changes to
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
  c10::ScalarType dtype() const { return dtype_; }
  int64_t num_classes() const { return num_classes_; }

  struct Program;  // the op tree (fused_model.cpp)

 private:
  std::shared_ptr<const Program> program_;
  FuseStats stats_;
  Layout layout_ = Layout::Contiguous;
  c10::ScalarType dtype_ = c10::kFloat;
  int64_t num_classes_ = 0;
};

}  // namespace wrn::infer
