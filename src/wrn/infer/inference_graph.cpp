#include "wrn/infer/inference_graph.h"

#include <torch/types.h>
#include <torch/utils.h>

#include "wrn/core/error.h"

namespace wrn::infer {

std::string GraphStats::str() const {
  return fmt::format("{} convs, {} BatchNorms folded, {} kept as affines, {} in-place ReLUs", convs,
                     folded_bns, affine_bns, inplace_relus);
}

namespace {

using graph::Node;
using graph::Residual;
using graph::Seq;


// BN(conv(x)) == conv'(x) with w' = w * s, b' = beta + (b - mean) * s, s = gamma / sqrt(var + eps).
void fold_into(Node& conv, const Node& bn) {
  auto scale = bn.weight.to(torch::kDouble) / (bn.var.to(torch::kDouble) + bn.eps).sqrt();
  auto bias = conv.bias.defined() ? conv.bias.to(torch::kDouble) : torch::zeros_like(scale);
  auto w = conv.weight.to(torch::kDouble) * scale.view({-1, 1, 1, 1});
  auto b = bn.bias.to(torch::kDouble) + (bias - bn.mean.to(torch::kDouble)) * scale;
  conv.weight = w.to(conv.weight.scalar_type());
  conv.bias = b.to(conv.weight.scalar_type());
}

void optimize(Seq& seq, bool fold, GraphStats& stats) {
  Seq out;
  for (auto& node : seq) {
    if (node.kind == Node::Kind::Residual) {
      auto& r = *node.residual;
      for (Seq* sub : {&r.pre, &r.branch, &r.projection, &r.gate, &r.post}) optimize(*sub, fold, stats);
    }
    if (!out.empty() && out.back().kind == Node::Kind::Conv) {
      Node& conv = out.back();
      if (fold && node.kind == Node::Kind::Affine && !conv.relu) {
        fold_into(conv, node);
        ++stats.folded_bns;
        continue;
      }
      if (node.kind == Node::Kind::Relu && !conv.relu) {
        conv.relu = true;
        ++stats.inplace_relus;
        continue;
      }
    }
    // A ReLU after a kept BatchNorm (pre-activation units) runs with it, in one pass.
    if (!out.empty() && out.back().kind == Node::Kind::Affine && node.kind == Node::Kind::Relu &&
        !out.back().relu) {
      out.back().relu = true;
      ++stats.inplace_relus;
      continue;
    }
    if (node.kind == Node::Kind::Affine) ++stats.affine_bns;
    if (node.kind == Node::Kind::Conv) ++stats.convs;
    out.push_back(std::move(node));
  }
  seq = std::move(out);
}

}  // namespace

InferenceGraph build_inference_graph(const models::Classifier& model, bool fold_batchnorm) {
  WRN_CHECK(model != nullptr, "inference graph: no classifier given");
  torch::NoGradGuard no_grad;
  InferenceGraph g;
  g.body = model->op_graph();
  WRN_CHECK(!g.body.empty() && g.body.front().kind == Node::Kind::Conv,
            "inference graph: the network does not start with a convolution");
  g.in_channels = g.body.front().weight.size(1) * g.body.front().groups;
  optimize(g.body, fold_batchnorm, g.stats);
  g.num_classes = model->num_classes();
  return g;
}

}  // namespace wrn::infer
