// The evaluation-mode computation of a network as a small tree of ops: what every block says
// about itself next to its forward (Block::to_graph), and what the inference layer folds,
// runs and exports (infer/inference_graph.h, graph_lowering.h).
//
// Contract of a node tree built by a Classifier's to_graph(): evaluated op by op (dropout is
// the identity, BatchNorm uses its running statistics) it computes model->eval() forward.
// Nodes own copies of the weights (float, on the model's device); `source` points at the
// module a node was built from and is only valid while the model lives: name_nodes() turns
// it into the state_dict prefix ("layer1.0.conv1") that the exporters use for names.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace wrn::models::graph {

struct Residual;

// One op.
struct Node {
  enum class Kind { Conv, Affine, Relu, MaxPool, Residual, Head };
  Kind kind = Kind::Relu;
  const torch::nn::Module* source = nullptr;  // the module it came from; none for ReLU
  std::string name;                           // its state_dict prefix, set by name_nodes()
  // Conv: weight [out, in/groups, kh, kw], bias [out] (undefined: none); zero padding.
  // Affine: weight, bias as a BatchNorm's gamma and beta. Head: the linear layer.
  // `packed` is free for a runner's own copy of the weight (FusedClassifier's layout).
  torch::Tensor weight, bias, packed;
  // Conv and MaxPool: 2 values each (MaxPool: `kernel` too).
  std::vector<int64_t> kernel, stride, padding, dilation;
  int64_t groups = 1;
  bool relu = false;  // Conv, Affine: a ReLU follows (merged by the optimizing pass)
  // Affine: an evaluation-mode BatchNorm, y = (x - mean) / sqrt(var + eps) * weight + bias.
  torch::Tensor mean, var;
  double eps = 1e-5;
  // Residual: one unit (below). Head: global average pool over H, W, flatten, then linear.
  std::shared_ptr<Residual> residual;
};
using Seq = std::vector<Node>;

// y = post(combine(branch(a), shortcut(shortcut_from_pre ? a : x))), a = pre(x).
struct Residual {
  Seq pre;                         // x -> a (pre-activation: BN, ReLU)
  Seq branch;                      // a -> f
  bool shortcut_from_pre = false;  // the shortcut reads a instead of x
  // ZeroPad: x[:, :, ::pad_stride, ::pad_stride] with pad_extra zero channels appended
  // (models::zero_pad_shortcut). Projection: the `projection` ops.
  enum class Shortcut { Identity, ZeroPad, Projection } shortcut = Shortcut::Identity;
  Seq projection;
  int64_t pad_extra = 0, pad_stride = 1;
  // Add: f + s. Scaled: branch_scale * f + shortcut_scale * s.
  // ExclusiveGate: g * f + (1 - g) * s. ShortcutOnlyGate: f + (1 - g) * s; g = sigmoid(gate(x)).
  enum class Combine { Add, Scaled, ExclusiveGate, ShortcutOnlyGate } combine = Combine::Add;
  double branch_scale = 1.0, shortcut_scale = 1.0;
  Seq gate;  // on x (never on a), for the gating variants
  Seq post;  // after the combination
};

// Builders: each copies the module's weights. Throws ConfigError for a layout the graph
// cannot express (a non-zero padding mode, implicit "same" padding, a BN without statistics).
Node conv(const torch::nn::Conv2dImpl& conv);
Node batch_norm(const torch::nn::BatchNorm2dImpl& bn);
Node relu();
Node max_pool(int64_t kernel, int64_t stride, int64_t padding);
Node head(const torch::nn::LinearImpl& fc);
Node residual(const torch::nn::Module& unit, Residual r);
// The pre-activation unit's ops (PreActResNet, WRN): pre = BN_0, ReLU; branch = conv_0 then
// (BN_i, ReLU, conv_i) for i >= 1; a non-identity shortcut reads the activated input.
Residual preact_residual(const std::vector<torch::nn::BatchNorm2d>& bns, const std::vector<torch::nn::Conv2d>& convs);

// Sets every node's `name` from its `source`: the module's path below `root`.
void name_nodes(Seq& seq, const torch::nn::Module& root);

}  // namespace wrn::models::graph
