// The evaluation-mode network as a small tree of ops, BatchNorm folded: the one walker over
// the three families, shared by FusedClassifier (which runs it) and the ONNX and TorchScript
// exporters (which translate it).
//
// How: a visitor over the three families turns the network into a tree of ops
// (conv, channel affine, ReLU, max-pool, residual unit, pool + fc) using the public module
// tree (state_dict names) and the family options; a peephole pass then folds every
// BatchNorm that directly follows a convolution into that convolution's weight and bias:
//   post-activation ResNet (all activation orders): every conv-BN pair, downsample included;
//   pre-activation ResNet / WRN / full-preact ablation: bn_{i+1} following conv_i inside a
//   unit, and the ImageNet stem's bn1. BatchNorms that follow an addition (bn1 of a
//   pre-activation unit, final_bn, post-addition BN) stay as per-channel affines.
// The same pass marks a ReLU that directly follows a convolution as part of it (Node::relu).
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
  int inplace_relus = 0;  // ReLUs merged into the preceding convolution (Node::relu)
  std::string str() const;
};

namespace graph {

struct Residual;

// One op. Tensors are float, on the model's device, owned by the node (cloned from the model).
struct Node {
  enum class Kind { Conv, Affine, Relu, MaxPool, Residual, Head };
  Kind kind = Kind::Relu;
  // The state_dict prefix of the module it came from ("layer1.0.conv1"); empty for ReLU/pool.
  std::string name;
  // Conv: weight [out, in/groups, kh, kw], bias [out] (undefined: none); `packed` is free for
  // a runner's own copy of the weight (FusedClassifier's layout).
  torch::Tensor weight, bias, packed;
  std::vector<int64_t> stride, padding, dilation;  // 2 values each; zero padding
  int64_t groups = 1;
  bool relu = false;  // Conv: a ReLU follows (merged by the optimizing pass)
  // Affine: an evaluation-mode BatchNorm, y = (x - mean) / sqrt(var + eps) * weight + bias.
  torch::Tensor mean, var;
  double eps = 1e-5;
  // MaxPool: always kernel 3, stride 2, padding 1 (the ImageNet stem).
  // Residual unit.
  std::shared_ptr<Residual> residual;
  // Head: global average pool over H, W, flatten, then linear (weight [classes, features],
  // bias [classes] or undefined).
};
using Seq = std::vector<Node>;

// y = post(combine(branch(a), shortcut(shortcut_from_pre ? a : x))), a = pre(x).
struct Residual {
  Seq pre;                         // x -> a (pre-activation: BN, ReLU)
  Seq branch;                      // a -> f
  bool shortcut_from_pre = false;  // the shortcut reads a instead of x
  // ZeroPad: x[:, :, ::pad_stride, ::pad_stride] with zero channels appended up to
  // pad_channels (models::zero_pad_shortcut).
  enum class Shortcut { Identity, ZeroPad, Projection } shortcut = Shortcut::Identity;
  Seq projection;
  int64_t pad_channels = 0, pad_stride = 1;
  // Add: f + s. Scaled: branch_scale * f + shortcut_scale * s.
  // ExclusiveGate: g * f + (1 - g) * s. ShortcutOnlyGate: f + (1 - g) * s; g = sigmoid(gate(x)).
  enum class Combine { Add, Scaled, ExclusiveGate, ShortcutOnlyGate } combine = Combine::Add;
  double branch_scale = 1.0, shortcut_scale = 1.0;
  Seq gate;  // 1x1 conv with bias on x (never on a), for the gating variants
  Seq post;  // after the combination
};

}  // namespace graph

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
