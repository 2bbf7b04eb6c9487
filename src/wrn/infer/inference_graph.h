// The evaluation-mode network as a small tree of ops, BatchNorm folded: what FusedClassifier
// runs and the ONNX and TorchScript exporters translate (all three through graph_lowering.h).
//
// How: the network describes itself (Classifier::op_graph(): each block emits its ops next to
// its forward, models/graph.h); a peephole pass then folds every BatchNorm that directly
// follows a convolution into that convolution's weight and bias:
//   post-activation ResNet (all activation orders): every conv-BN pair, downsample included;
//   pre-activation ResNet / WRN / full-preact ablation: bn_{i+1} following conv_i inside a
//   unit, and the ImageNet stem's bn1. BatchNorms that follow an addition (bn1 of a
//   pre-activation unit, final_bn, post-addition BN) stay as per-channel affines.
// The same pass marks a ReLU that directly follows a convolution or a kept BatchNorm as part
// of it (Node::relu).
// Dropout is dropped (evaluation semantics).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "wrn/models/network.h"

namespace wrn::infer {

// What the build did, for `wrn bench` and the tests.
struct GraphStats {
  int convs = 0;
  int folded_bns = 0;     // BatchNorms merged into a convolution
  int affine_bns = 0;     // BatchNorms kept (they follow an addition)
  int inplace_relus = 0;  // ReLUs merged into the preceding convolution or affine (Node::relu)
  std::string str() const;
};

namespace graph = models::graph;  // Node, Residual, Seq: the op tree (models/graph.h)

struct InferenceGraph {
  graph::Seq body;
  GraphStats stats;
  int64_t in_channels = 0;  // of the first convolution
  int64_t num_classes = 0;
};

// Contract: requires a Classifier of the zoo (ResNet, PreActResNet, WideResNet) with running
// BatchNorm statistics. Returns its evaluation-mode network as an op tree whose evaluation
// equals model->eval() forward up to float rounding; with fold_batchnorm false every
// BatchNorm stays an Affine node. The graph owns copies of the weights (float, on the model's
// device); the model is not modified. Throws ConfigError for a classifier of another family
// or an unsupported module layout (non-zero padding mode, implicit "same" padding, ...).
InferenceGraph build_inference_graph(const models::Classifier& model, bool fold_batchnorm = true);

}  // namespace wrn::infer
