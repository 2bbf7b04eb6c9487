#include "wrn/infer/fused_model.h"

#include <ATen/Config.h>
#include <ATen/ops/mkldnn_convolution.h>
#include <ATen/ops/mkldnn_reorder_conv2d_weight.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <cmath>
#include <memory>
#include <type_traits>
#include <vector>

#include "wrn/core/error.h"
#include "wrn/models/preact_resnet.h"
#include "wrn/models/resnet.h"
#include "wrn/models/shortcut.h"
#include "wrn/models/wide_resnet.h"

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

std::string FuseStats::str() const {
  return fmt::format("{} convs, {} BatchNorms folded, {} kept as affines, {} in-place ReLUs", convs, folded_bns,
                     affine_bns, inplace_relus);
}

// ---------------------------------------------------------------------------------------
// The op tree.

namespace {

struct Residual;

struct Node {
  enum class Kind { Conv, Affine, Relu, MaxPool, Residual, Head };
  Kind kind = Kind::Relu;
  // Conv: dense weight/bias while building; `packed` is the weight in the run layout.
  torch::Tensor weight, bias, packed;
  std::vector<int64_t> stride, padding, dilation;
  int64_t groups = 1;
  bool relu = false;
  // Affine: an evaluation-mode BatchNorm (also `weight`/`bias`: gamma/beta).
  torch::Tensor mean, var;
  double eps = 1e-5;
  // Residual unit.
  std::shared_ptr<Residual> residual;
};
using Seq = std::vector<Node>;

struct Residual {
  Seq pre;                        // x -> a (pre-activation: BN, ReLU)
  Seq branch;                     // a -> f
  bool shortcut_from_pre = false; // the shortcut reads a instead of x
  enum class Shortcut { Identity, ZeroPad, Projection } shortcut = Shortcut::Identity;
  Seq projection;
  int64_t pad_channels = 0, pad_stride = 1;
  enum class Combine { Add, Scaled, ExclusiveGate, ShortcutOnlyGate } combine = Combine::Add;
  double branch_scale = 1.0, shortcut_scale = 1.0;
  Seq gate;  // 1x1 conv with bias on x, for the gating variants
  Seq post;  // after the combination
};

}  // namespace

struct FusedClassifier::Program {
  Seq body;
  Layout layout = Layout::Contiguous;
};

namespace {

using ModulePtr = std::shared_ptr<torch::nn::Module>;

ModulePtr child(const torch::nn::Module& m, const std::string& name) {
  auto children = m.named_children();
  const auto* found = children.find(name);
  return found ? *found : nullptr;
}

template <typename T>
T* child_as(const torch::nn::Module& m, const std::string& name, bool required = true) {
  auto c = child(m, name);
  if (!c) {
    WRN_CHECK(!required, "fused model: module '{}' has no child '{}'", m.name(), name);
    return nullptr;
  }
  T* t = c->as<T>();
  WRN_CHECK(t != nullptr, "fused model: child '{}' of '{}' has an unexpected type", name, m.name());
  return t;
}

std::vector<int64_t> vec2(const torch::ExpandingArray<2>& a) { return {a->at(0), a->at(1)}; }

Node conv_node(const torch::nn::Conv2dImpl& conv) {
  Node n;
  n.kind = Node::Kind::Conv;
  n.weight = conv.weight.detach().clone();
  if (conv.bias.defined()) n.bias = conv.bias.detach().clone();
  n.stride = vec2(conv.options.stride());
  WRN_CHECK(torch::enumtype::get_enum_name(conv.options.padding_mode()) == "kZeros",
            "fused model: only zero padding is supported");
  // `visit` unqualified: found by ADL as c10::visit (LibTorch 1.13) or std::visit (2.x).
  bool explicit_padding = false;
  visit(
      [&](const auto& p) {
        if constexpr (std::is_same_v<std::decay_t<decltype(p)>, torch::ExpandingArray<2>>) {
          n.padding = vec2(p);
          explicit_padding = true;
        }
      },
      conv.options.padding());
  WRN_CHECK(explicit_padding, "fused model: only explicit conv padding is supported");
  n.dilation = vec2(conv.options.dilation());
  n.groups = conv.options.groups();
  return n;
}

Node bn_node(const torch::nn::BatchNorm2dImpl& bn) {
  Node n;
  n.kind = Node::Kind::Affine;
  const int64_t c = bn.options.num_features();
  n.weight = bn.weight.defined() ? bn.weight.detach().clone() : torch::ones({c});
  n.bias = bn.bias.defined() ? bn.bias.detach().clone() : torch::zeros({c});
  WRN_CHECK(bn.running_mean.defined() && bn.running_var.defined(),
            "fused model: BatchNorm without running statistics cannot be evaluated");
  n.mean = bn.running_mean.detach().clone();
  n.var = bn.running_var.detach().clone();
  n.eps = bn.options.eps();
  return n;
}

Node relu_node() {
  Node n;
  n.kind = Node::Kind::Relu;
  return n;
}

Node maxpool_node() {
  Node n;
  n.kind = Node::Kind::MaxPool;
  return n;
}

Node head_node(const torch::nn::LinearImpl& fc) {
  Node n;
  n.kind = Node::Kind::Head;
  n.weight = fc.weight.detach().clone();
  n.bias = fc.bias.defined() ? fc.bias.detach().clone() : torch::Tensor();
  return n;
}

Node residual_node(std::shared_ptr<Residual> r) {
  Node n;
  n.kind = Node::Kind::Residual;
  n.residual = std::move(r);
  return n;
}

// The units of stage `name` ("layer1", ...), in order.
std::vector<ModulePtr> units(const torch::nn::Module& net, const std::string& name) {
  auto* list = child_as<torch::nn::ModuleListImpl>(net, name, false);
  std::vector<ModulePtr> out;
  if (list) out = list->children();
  return out;
}

std::vector<torch::nn::Conv2dImpl*> unit_convs(const torch::nn::Module& unit) {
  std::vector<torch::nn::Conv2dImpl*> convs;
  for (int i = 1;; ++i) {
    auto* c = child_as<torch::nn::Conv2dImpl>(unit, "conv" + std::to_string(i), false);
    if (!c) break;
    convs.push_back(c);
  }
  WRN_CHECK(!convs.empty(), "fused model: residual unit without convolutions");
  return convs;
}

// Channel change and stride of a unit, from its convolutions.
void unit_shape(const std::vector<torch::nn::Conv2dImpl*>& convs, int64_t& in, int64_t& out, int64_t& stride) {
  in = convs.front()->options.in_channels();
  out = convs.back()->options.out_channels();
  stride = 1;
  for (auto* c : convs) stride *= c->options.stride()->at(0);
}

// --- post-activation ResNet (and the Identity Mappings ablations) ---
Seq visit_resnet(const models::ResNetImpl& net) {
  using models::ActivationOrder;
  using models::ShortcutVariant;
  const auto& o = net.options();
  const auto order = o.activation();
  Seq body;
  body.push_back(conv_node(*child_as<torch::nn::Conv2dImpl>(net, "conv1")));
  body.push_back(bn_node(*child_as<torch::nn::BatchNorm2dImpl>(net, "bn1")));
  body.push_back(relu_node());
  if (o.stem() == models::Stem::ImageNet) body.push_back(maxpool_node());
  for (size_t s = 0; s < o.layers().size(); ++s) {
    for (const auto& unit : units(net, "layer" + std::to_string(s + 1))) {
      auto r = std::make_shared<Residual>();
      auto convs = unit_convs(*unit);
      const size_t m = convs.size();
      auto bn = [&](size_t i) { return bn_node(*child_as<torch::nn::BatchNorm2dImpl>(*unit, "bn" + std::to_string(i + 1))); };
      if (order == ActivationOrder::FullPreact) {
        for (size_t i = 0; i < m; ++i) {
          r->branch.push_back(bn(i));
          r->branch.push_back(relu_node());
          r->branch.push_back(conv_node(*convs[i]));
        }
      } else {
        if (order == ActivationOrder::ReluOnlyPreact) r->branch.push_back(relu_node());
        for (size_t i = 0; i < m; ++i) {
          r->branch.push_back(conv_node(*convs[i]));
          const bool last = i + 1 == m;
          if (last && order == ActivationOrder::BnAfterAddition) break;
          r->branch.push_back(bn(i));
          if (!last || order == ActivationOrder::ReluBeforeAddition) r->branch.push_back(relu_node());
        }
      }
      int64_t in = 0, out = 0, stride = 1;
      unit_shape(convs, in, out, stride);
      if (auto* ds = child_as<torch::nn::SequentialImpl>(*unit, "downsample", false)) {
        r->shortcut = Residual::Shortcut::Projection;
        WRN_CHECK(ds->size() == 2, "fused model: downsample must be (conv, BN)");
        r->projection.push_back(conv_node(*ds->ptr(0)->as<torch::nn::Conv2dImpl>()));
        r->projection.push_back(bn_node(*ds->ptr(1)->as<torch::nn::BatchNorm2dImpl>()));
      } else if (stride != 1 || in != out) {
        r->shortcut = Residual::Shortcut::ZeroPad;
        r->pad_channels = out;
        r->pad_stride = stride;
      }
      switch (o.shortcut_variant()) {
        case ShortcutVariant::Identity:
        case ShortcutVariant::Conv1x1:
        case ShortcutVariant::Dropout:  // evaluation: dropout is the identity
          r->combine = Residual::Combine::Add;
          break;
        case ShortcutVariant::ConstantScaling:
          r->combine = Residual::Combine::Scaled;
          r->branch_scale = o.scale_branch() ? 1.0 - o.shortcut_scale() : 1.0;
          r->shortcut_scale = o.shortcut_scale();
          break;
        case ShortcutVariant::ExclusiveGating:
        case ShortcutVariant::ShortcutOnlyGating:
          r->combine = o.shortcut_variant() == ShortcutVariant::ExclusiveGating
                           ? Residual::Combine::ExclusiveGate
                           : Residual::Combine::ShortcutOnlyGate;
          r->gate.push_back(conv_node(*child_as<torch::nn::Conv2dImpl>(*unit, "gate")));
          break;
      }
      if (order == ActivationOrder::Original) {
        r->post.push_back(relu_node());
      } else if (order == ActivationOrder::BnAfterAddition) {
        r->post.push_back(bn(m - 1));
        r->post.push_back(relu_node());
      }
      body.push_back(residual_node(r));
    }
  }
  if (order == ActivationOrder::FullPreact) {
    body.push_back(bn_node(*child_as<torch::nn::BatchNorm2dImpl>(net, "final_bn")));
    body.push_back(relu_node());
  } else if (order == ActivationOrder::ReluOnlyPreact) {
    body.push_back(relu_node());
  }
  body.push_back(head_node(*child_as<torch::nn::LinearImpl>(net, "fc")));
  return body;
}

// A pre-activation unit (PreActResNet, WRN): BN -> ReLU shared by branch and a non-identity
// shortcut, then conv, (BN, ReLU, conv)*; dropout is the identity in evaluation.
std::shared_ptr<Residual> preact_unit(const torch::nn::Module& unit, bool zero_pad_allowed) {
  auto r = std::make_shared<Residual>();
  auto convs = unit_convs(unit);
  auto bn = [&](size_t i) { return bn_node(*child_as<torch::nn::BatchNorm2dImpl>(unit, "bn" + std::to_string(i + 1))); };
  r->pre.push_back(bn(0));
  r->pre.push_back(relu_node());
  r->branch.push_back(conv_node(*convs[0]));
  for (size_t i = 1; i < convs.size(); ++i) {
    r->branch.push_back(bn(i));
    r->branch.push_back(relu_node());
    r->branch.push_back(conv_node(*convs[i]));
  }
  int64_t in = 0, out = 0, stride = 1;
  unit_shape(convs, in, out, stride);
  if (auto* sc = child_as<torch::nn::Conv2dImpl>(unit, "shortcut", false)) {
    r->shortcut = Residual::Shortcut::Projection;
    r->shortcut_from_pre = true;
    r->projection.push_back(conv_node(*sc));
  } else if (stride != 1 || in != out) {
    WRN_CHECK(zero_pad_allowed, "fused model: a unit that changes shape needs a projection shortcut");
    r->shortcut = Residual::Shortcut::ZeroPad;
    r->shortcut_from_pre = true;
    r->pad_channels = out;
    r->pad_stride = stride;
  }
  return r;
}

Seq visit_preact(const models::PreActResNetImpl& net) {
  const auto& o = net.options();
  Seq body;
  body.push_back(conv_node(*child_as<torch::nn::Conv2dImpl>(net, "conv1")));
  if (auto* bn1 = child_as<torch::nn::BatchNorm2dImpl>(net, "bn1", false)) {
    body.push_back(bn_node(*bn1));
    body.push_back(relu_node());
    body.push_back(maxpool_node());
  } else if (o.stem_relu()) {
    body.push_back(relu_node());
  }
  for (size_t s = 0; s < o.layers().size(); ++s) {
    for (const auto& unit : units(net, "layer" + std::to_string(s + 1))) body.push_back(residual_node(preact_unit(*unit, true)));
  }
  if (auto* fbn = child_as<torch::nn::BatchNorm2dImpl>(net, "final_bn", false)) body.push_back(bn_node(*fbn));
  body.push_back(relu_node());
  body.push_back(head_node(*child_as<torch::nn::LinearImpl>(net, "fc")));
  return body;
}

Seq visit_wide(const models::WideResNetImpl& net) {
  Seq body;
  body.push_back(conv_node(*child_as<torch::nn::Conv2dImpl>(net, "conv1")));
  for (int g = 1; g <= 3; ++g) {
    for (const auto& unit : units(net, "layer" + std::to_string(g))) body.push_back(residual_node(preact_unit(*unit, false)));
  }
  body.push_back(bn_node(*child_as<torch::nn::BatchNorm2dImpl>(net, "final_bn")));
  body.push_back(relu_node());
  body.push_back(head_node(*child_as<torch::nn::LinearImpl>(net, "fc")));
  return body;
}

// --- passes ---

// BN(conv(x)) == conv'(x) with w' = w * s, b' = beta + (b - mean) * s, s = gamma / sqrt(var + eps).
void fold_into(Node& conv, const Node& bn) {
  auto scale = bn.weight.to(torch::kDouble) / (bn.var.to(torch::kDouble) + bn.eps).sqrt();
  auto bias = conv.bias.defined() ? conv.bias.to(torch::kDouble) : torch::zeros_like(scale);
  auto w = conv.weight.to(torch::kDouble) * scale.view({-1, 1, 1, 1});
  auto b = bn.bias.to(torch::kDouble) + (bias - bn.mean.to(torch::kDouble)) * scale;
  conv.weight = w.to(conv.weight.scalar_type());
  conv.bias = b.to(conv.weight.scalar_type());
}

void optimize(Seq& seq, bool fold, FuseStats& stats) {
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
    if (node.kind == Node::Kind::Affine) ++stats.affine_bns;
    if (node.kind == Node::Kind::Conv) ++stats.convs;
    out.push_back(std::move(node));
  }
  seq = std::move(out);
}

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
          node.packed = node.weight.contiguous(at::MemoryFormat::ChannelsLast);
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
  Seq body;
  if (auto* r = dynamic_cast<const models::ResNetImpl*>(model.get())) {
    body = visit_resnet(*r);
  } else if (auto* p = dynamic_cast<const models::PreActResNetImpl*>(model.get())) {
    body = visit_preact(*p);
  } else if (auto* w = dynamic_cast<const models::WideResNetImpl*>(model.get())) {
    body = visit_wide(*w);
  } else {
    throw ConfigError(fmt::format("fused model: unsupported network family '{}'", model->family()));
  }
  FusedClassifier fused;
  fused.layout_ = options.layout;
  auto params = model->parameters();
  const bool on_cpu = params.empty() || params.front().device().is_cpu();
  if (fused.layout_ == Layout::Mkldnn && (!on_cpu || !at::hasMKLDNN())) fused.layout_ = Layout::ChannelsLast;
  optimize(body, options.fold_batchnorm, fused.stats_);
  prepare(body, fused.layout_);
  auto program = std::make_shared<Program>();
  program->body = std::move(body);
  program->layout = fused.layout_;
  fused.program_ = std::move(program);
  fused.num_classes_ = model->num_classes();
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
