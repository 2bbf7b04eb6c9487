#include "wrn/infer/fused_model.h"

#include <ATen/Config.h>
#include <ATen/ops/mkldnn_convolution.h>
#include <ATen/ops/mkldnn_reorder_conv2d_weight.h>
#include <torch/types.h>

#include <memory>
#include <vector>

#include "wrn/core/error.h"
#include "wrn/core/memory.h"
#include "wrn/models/shortcut.h"

namespace wrn::infer {

Layout parse_layout(const std::string& text) {
  if (text == "contiguous") return Layout::Contiguous;
  if (text == "channels_last") return Layout::ChannelsLast;
  if (text == "mkldnn") return Layout::Mkldnn;
  throw ConfigError(fmt::format("layout must be contiguous, channels_last or mkldnn, got '{}'", text));
}

std::string layout_name(Layout layout) {
  switch (layout) {
    case Layout::Contiguous:
      return "contiguous";
    case Layout::ChannelsLast:
      return "channels_last";
    case Layout::Mkldnn:
      return "mkldnn";
  }
  return "?";
}

Layout default_layout() { return at::hasMKLDNN() ? Layout::Mkldnn : Layout::ChannelsLast; }

// ---------------------------------------------------------------------------------------
// The interpreter over the op tree (inference_graph.h).

struct FusedClassifier::Program {
  graph::Seq body;
  Layout layout = Layout::Contiguous;
};

namespace {

using graph::Node;
using graph::Residual;
using graph::Seq;

// Weights in the run layout.
void prepare(Seq& seq, Layout layout) {
  for (auto& node : seq) {
    if (node.kind == Node::Kind::Residual) {
      auto& r = *node.residual;
      for (Seq* sub : {&r.pre, &r.branch, &r.projection, &r.gate, &r.post}) prepare(*sub, layout);
    } else if (node.kind == Node::Kind::Conv) {
      switch (layout) {
        case Layout::Contiguous:
          node.packed = node.weight.contiguous();
          break;
        case Layout::ChannelsLast:
          node.packed = to_channels_last(node.weight);
          break;
        case Layout::Mkldnn:
          node.packed = at::mkldnn_reorder_conv2d_weight(node.weight.contiguous().to_mkldnn(), node.padding,
                                                         node.stride, node.dilation, node.groups);
          break;
      }
      node.weight = torch::Tensor();  // the packed copy is the one that runs
    }
  }
}

// --- interpreter ---

torch::Tensor dense(const torch::Tensor& x) { return x.is_mkldnn() ? x.to_dense() : x; }

torch::Tensor to_layout(const torch::Tensor& x, Layout layout) {
  switch (layout) {
    case Layout::Contiguous:
      return dense(x).contiguous();
    case Layout::ChannelsLast:
      return dense(x).contiguous(at::MemoryFormat::ChannelsLast);
    case Layout::Mkldnn:
      return x.is_mkldnn() ? x : x.contiguous().to_mkldnn();
  }
  return x;
}

torch::Tensor run(const Seq& seq, torch::Tensor x, bool owned, Layout layout);

torch::Tensor run_residual(const Residual& r, const torch::Tensor& x, Layout layout) {
  torch::Tensor a = r.pre.empty() ? x : run(r.pre, x, false, layout);
  torch::Tensor f = run(r.branch, a, false, layout);
  const torch::Tensor& src = r.shortcut_from_pre ? a : x;
  torch::Tensor s;
  switch (r.shortcut) {
    case Residual::Shortcut::Identity:
      s = src;
      break;
    case Residual::Shortcut::ZeroPad:
      s = to_layout(models::zero_pad_shortcut(dense(src), r.pad_channels, r.pad_stride), layout);
      break;
    case Residual::Shortcut::Projection:
      s = run(r.projection, src, false, layout);
      break;
  }
  torch::Tensor y;
  if (r.combine == Residual::Combine::Add) {
    y = f.add_(s);  // f is a fresh tensor made by the branch
  } else {
    // Ablation variants: dense arithmetic (oneDNN tensors have no sigmoid).
    auto fd = dense(f), sd = dense(s);
    if (r.combine == Residual::Combine::Scaled) {
      y = fd * r.branch_scale + sd * r.shortcut_scale;
    } else {
      auto g = torch::sigmoid(dense(run(r.gate, x, false, layout)));
      y = r.combine == Residual::Combine::ExclusiveGate ? g * fd + (1 - g) * sd : fd + (1 - g) * sd;
    }
    y = to_layout(y, layout);
  }
  return r.post.empty() ? y : run(r.post, y, true, layout);
}

// `owned`: x is a temporary of this sequence that may be overwritten in place.
torch::Tensor run(const Seq& seq, torch::Tensor x, bool owned, Layout layout) {
  for (const auto& n : seq) {
    switch (n.kind) {
      case Node::Kind::Conv:
        if (layout == Layout::Mkldnn) {
          x = at::mkldnn_convolution(x, n.packed, n.bias, n.padding, n.stride, n.dilation, n.groups);
        } else {
          x = at::conv2d(x, n.packed, n.bias, n.stride, n.padding, n.dilation, n.groups);
        }
        if (n.relu) x.relu_();
        owned = true;
        break;
      case Node::Kind::Affine:
        x = at::batch_norm(x, n.weight, n.bias, n.mean, n.var, /*training=*/false, 0.0, n.eps,
                           /*cudnn_enabled=*/false);
        owned = true;
        break;
      case Node::Kind::Relu:
        x = owned ? x.relu_() : x.relu();
        owned = true;
        break;
      case Node::Kind::MaxPool:
        x = at::max_pool2d(x, {3, 3}, {2, 2}, {1, 1});
        owned = true;
        break;
      case Node::Kind::Residual:
        x = run_residual(*n.residual, x, layout);
        owned = true;
        break;
      case Node::Kind::Head: {
        auto pooled = at::adaptive_avg_pool2d(dense(x), {1, 1}).flatten(1);
        x = at::linear(pooled, n.weight, n.bias);
        owned = true;
        break;
      }
    }
  }
  return x;
}

}  // namespace

FusedClassifier FusedClassifier::build(const models::Classifier& model, const FuseOptions& options) {
  WRN_CHECK(model != nullptr, "fused model: no classifier given");
  torch::NoGradGuard no_grad;
  InferenceGraph g = build_inference_graph(model, options.fold_batchnorm);
  FusedClassifier fused;
  fused.layout_ = options.layout;
  auto params = model->parameters();
  const bool on_cpu = params.empty() || params.front().device().is_cpu();
  if (fused.layout_ == Layout::Mkldnn && (!on_cpu || !at::hasMKLDNN())) fused.layout_ = Layout::ChannelsLast;
  fused.stats_ = g.stats;
  prepare(g.body, fused.layout_);
  auto program = std::make_shared<Program>();
  program->body = std::move(g.body);
  program->layout = fused.layout_;
  fused.program_ = std::move(program);
  fused.num_classes_ = g.num_classes;
  return fused;
}

torch::Tensor FusedClassifier::forward(const torch::Tensor& x) const {
  WRN_CHECK(program_ != nullptr, "fused model: forward on an empty FusedClassifier");
  WRN_CHECK(x.dim() == 4 && x.scalar_type() == torch::kFloat,
            "fused model: expected a float [N, C, H, W] batch, got {} dims of {}", x.dim(),
            std::string(c10::toString(x.scalar_type())));
  torch::InferenceMode guard;
  return dense(run(program_->body, to_layout(x, layout_), false, layout_)).contiguous();
}

}  // namespace wrn::infer
