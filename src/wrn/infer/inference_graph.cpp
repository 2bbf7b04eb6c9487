#include "wrn/infer/inference_graph.h"

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <memory>
#include <type_traits>
#include <vector>

#include "wrn/core/error.h"
#include "wrn/models/preact_resnet.h"
#include "wrn/models/resnet.h"
#include "wrn/models/wide_resnet.h"

namespace wrn::infer {

std::string GraphStats::str() const {
  return fmt::format("{} convs, {} BatchNorms folded, {} kept as affines, {} in-place ReLUs", convs,
                     folded_bns, affine_bns, inplace_relus);
}

namespace {

using graph::Node;
using graph::Residual;
using graph::Seq;
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

Node conv_node(const torch::nn::Conv2dImpl& conv, std::string name) {
  Node n;
  n.kind = Node::Kind::Conv;
  n.name = std::move(name);
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

Node bn_node(const torch::nn::BatchNorm2dImpl& bn, std::string name) {
  Node n;
  n.kind = Node::Kind::Affine;
  n.name = std::move(name);
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
  n.name = "fc";
  n.weight = fc.weight.detach().clone();
  n.bias = fc.bias.defined() ? fc.bias.detach().clone() : torch::Tensor();
  return n;
}

Node residual_node(std::shared_ptr<Residual> r, std::string name) {
  Node n;
  n.kind = Node::Kind::Residual;
  n.name = std::move(name);
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
void unit_shape(const std::vector<torch::nn::Conv2dImpl*>& convs, int64_t& in, int64_t& out,
                int64_t& stride) {
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
  body.push_back(conv_node(*child_as<torch::nn::Conv2dImpl>(net, "conv1"), "conv1"));
  body.push_back(bn_node(*child_as<torch::nn::BatchNorm2dImpl>(net, "bn1"), "bn1"));
  body.push_back(relu_node());
  if (o.stem() == models::Stem::ImageNet) body.push_back(maxpool_node());
  for (size_t s = 0; s < o.layers().size(); ++s) {
    const std::string stage = "layer" + std::to_string(s + 1);
    const auto stage_units = units(net, stage);
    for (size_t u = 0; u < stage_units.size(); ++u) {
      const auto& unit = stage_units[u];
      const std::string prefix = stage + "." + std::to_string(u) + ".";
      auto r = std::make_shared<Residual>();
      auto convs = unit_convs(*unit);
      const size_t m = convs.size();
      auto conv = [&](size_t i) { return conv_node(*convs[i], prefix + "conv" + std::to_string(i + 1)); };
      auto bn = [&](size_t i) {
        const std::string name = "bn" + std::to_string(i + 1);
        return bn_node(*child_as<torch::nn::BatchNorm2dImpl>(*unit, name), prefix + name);
      };
      if (order == ActivationOrder::FullPreact) {
        for (size_t i = 0; i < m; ++i) {
          r->branch.push_back(bn(i));
          r->branch.push_back(relu_node());
          r->branch.push_back(conv(i));
        }
      } else {
        if (order == ActivationOrder::ReluOnlyPreact) r->branch.push_back(relu_node());
        for (size_t i = 0; i < m; ++i) {
          r->branch.push_back(conv(i));
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
        auto* ds_conv = ds->ptr(0)->as<torch::nn::Conv2dImpl>();
        auto* ds_bn = ds->ptr(1)->as<torch::nn::BatchNorm2dImpl>();
        WRN_CHECK(ds_conv && ds_bn, "fused model: downsample must be (conv, BN)");
        r->projection.push_back(conv_node(*ds_conv, prefix + "downsample.0"));
        r->projection.push_back(bn_node(*ds_bn, prefix + "downsample.1"));
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
          r->gate.push_back(conv_node(*child_as<torch::nn::Conv2dImpl>(*unit, "gate"), prefix + "gate"));
          break;
      }
      if (order == ActivationOrder::Original) {
        r->post.push_back(relu_node());
      } else if (order == ActivationOrder::BnAfterAddition) {
        r->post.push_back(bn(m - 1));
        r->post.push_back(relu_node());
      }
      body.push_back(residual_node(r, prefix.substr(0, prefix.size() - 1)));
    }
  }
  if (order == ActivationOrder::FullPreact) {
    body.push_back(bn_node(*child_as<torch::nn::BatchNorm2dImpl>(net, "final_bn"), "final_bn"));
    body.push_back(relu_node());
  } else if (order == ActivationOrder::ReluOnlyPreact) {
    body.push_back(relu_node());
  }
  body.push_back(head_node(*child_as<torch::nn::LinearImpl>(net, "fc")));
  return body;
}

// A pre-activation unit (PreActResNet, WRN): BN -> ReLU shared by branch and a non-identity
// shortcut, then conv, (BN, ReLU, conv)*; dropout is the identity in evaluation.
std::shared_ptr<Residual> preact_unit(const torch::nn::Module& unit, const std::string& prefix,
                                      bool zero_pad_allowed) {
  auto r = std::make_shared<Residual>();
  auto convs = unit_convs(unit);
  auto bn = [&](size_t i) {
    const std::string name = "bn" + std::to_string(i + 1);
    return bn_node(*child_as<torch::nn::BatchNorm2dImpl>(unit, name), prefix + name);
  };
  auto conv = [&](size_t i) { return conv_node(*convs[i], prefix + "conv" + std::to_string(i + 1)); };
  r->pre.push_back(bn(0));
  r->pre.push_back(relu_node());
  r->branch.push_back(conv(0));
  for (size_t i = 1; i < convs.size(); ++i) {
    r->branch.push_back(bn(i));
    r->branch.push_back(relu_node());
    r->branch.push_back(conv(i));
  }
  int64_t in = 0, out = 0, stride = 1;
  unit_shape(convs, in, out, stride);
  if (auto* sc = child_as<torch::nn::Conv2dImpl>(unit, "shortcut", false)) {
    r->shortcut = Residual::Shortcut::Projection;
    r->shortcut_from_pre = true;
    r->projection.push_back(conv_node(*sc, prefix + "shortcut"));
  } else if (stride != 1 || in != out) {
    WRN_CHECK(zero_pad_allowed, "fused model: a unit that changes shape needs a projection shortcut");
    r->shortcut = Residual::Shortcut::ZeroPad;
    r->shortcut_from_pre = true;
    r->pad_channels = out;
    r->pad_stride = stride;
  }
  return r;
}

// The units of every stage "layer1".."layer{stages}", as residual nodes.
void push_preact_stages(const torch::nn::Module& net, size_t stages, bool zero_pad_allowed, Seq& body) {
  for (size_t s = 0; s < stages; ++s) {
    const std::string stage = "layer" + std::to_string(s + 1);
    const auto stage_units = units(net, stage);
    for (size_t u = 0; u < stage_units.size(); ++u) {
      const std::string name = stage + "." + std::to_string(u);
      body.push_back(residual_node(preact_unit(*stage_units[u], name + ".", zero_pad_allowed), name));
    }
  }
}

Seq visit_preact(const models::PreActResNetImpl& net) {
  const auto& o = net.options();
  Seq body;
  body.push_back(conv_node(*child_as<torch::nn::Conv2dImpl>(net, "conv1"), "conv1"));
  if (auto* bn1 = child_as<torch::nn::BatchNorm2dImpl>(net, "bn1", false)) {
    body.push_back(bn_node(*bn1, "bn1"));
    body.push_back(relu_node());
    body.push_back(maxpool_node());
  } else if (o.stem_relu()) {
    body.push_back(relu_node());
  }
  push_preact_stages(net, o.layers().size(), true, body);
  if (auto* fbn = child_as<torch::nn::BatchNorm2dImpl>(net, "final_bn", false)) {
    body.push_back(bn_node(*fbn, "final_bn"));
  }
  body.push_back(relu_node());
  body.push_back(head_node(*child_as<torch::nn::LinearImpl>(net, "fc")));
  return body;
}

Seq visit_wide(const models::WideResNetImpl& net) {
  Seq body;
  body.push_back(conv_node(*child_as<torch::nn::Conv2dImpl>(net, "conv1"), "conv1"));
  push_preact_stages(net, 3, false, body);
  body.push_back(bn_node(*child_as<torch::nn::BatchNorm2dImpl>(net, "final_bn"), "final_bn"));
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
    if (node.kind == Node::Kind::Affine) ++stats.affine_bns;
    if (node.kind == Node::Kind::Conv) ++stats.convs;
    out.push_back(std::move(node));
  }
  seq = std::move(out);
}

}  // namespace

InferenceGraph build_inference_graph(const models::Classifier& model, bool fold_batchnorm) {
  WRN_CHECK(model != nullptr, "fused model: no classifier given");
  torch::NoGradGuard no_grad;
  InferenceGraph g;
  if (auto* r = dynamic_cast<const models::ResNetImpl*>(model.get())) {
    g.body = visit_resnet(*r);
  } else if (auto* p = dynamic_cast<const models::PreActResNetImpl*>(model.get())) {
    g.body = visit_preact(*p);
  } else if (auto* w = dynamic_cast<const models::WideResNetImpl*>(model.get())) {
    g.body = visit_wide(*w);
  } else {
    throw ConfigError(fmt::format("fused model: unsupported network family '{}'", model->family()));
  }
  WRN_CHECK(!g.body.empty() && g.body.front().kind == Node::Kind::Conv,
            "fused model: the network does not start with a convolution");
  g.in_channels = g.body.front().weight.size(1) * g.body.front().groups;
  optimize(g.body, fold_batchnorm, g.stats);
  g.num_classes = model->num_classes();
  return g;
}

}  // namespace wrn::infer
