#include "wrn/models/graph.h"

#include <torch/utils.h>

#include <unordered_map>

#include "wrn/core/error.h"
#include "wrn/core/torch_compat.h"

namespace wrn::models::graph {
namespace {

std::vector<int64_t> vec2(const torch::ExpandingArray<2>& a) { return {a->at(0), a->at(1)}; }

torch::Tensor copy(const torch::Tensor& t) { return t.defined() ? t.detach().clone() : torch::Tensor(); }

void name_seq(Seq& seq, const std::unordered_map<const torch::nn::Module*, std::string>& names) {
  for (auto& n : seq) {
    if (n.source) {
      const auto it = names.find(n.source);
      WRN_CHECK(it != names.end(), "inference graph: a node was built from a module outside the network");
      n.name = it->second;
    }
    if (n.kind == Node::Kind::Residual) {
      auto& r = *n.residual;
      for (Seq* sub : {&r.pre, &r.branch, &r.projection, &r.gate, &r.post}) name_seq(*sub, names);
    }
  }
}

}  // namespace

Node conv(const torch::nn::Conv2dImpl& conv) {
  torch::NoGradGuard no_grad;
  Node n;
  n.kind = Node::Kind::Conv;
  n.source = &conv;
  n.weight = copy(conv.weight);
  n.bias = copy(conv.bias);
  WRN_CHECK(torch::enumtype::get_enum_name(conv.options.padding_mode()) == "kZeros",
            "inference graph: only zero padding is supported");
  auto padding = compat::explicit_padding(conv.options);
  WRN_CHECK(padding.has_value(), "inference graph: only explicit conv padding is supported");
  n.padding = *padding;
  n.kernel = vec2(conv.options.kernel_size());
  n.stride = vec2(conv.options.stride());
  n.dilation = vec2(conv.options.dilation());
  n.groups = conv.options.groups();
  return n;
}

Node batch_norm(const torch::nn::BatchNorm2dImpl& bn) {
  torch::NoGradGuard no_grad;
  Node n;
  n.kind = Node::Kind::Affine;
  n.source = &bn;
  const int64_t c = bn.options.num_features();
  n.weight = bn.weight.defined() ? copy(bn.weight) : torch::ones({c});
  n.bias = bn.bias.defined() ? copy(bn.bias) : torch::zeros({c});
  WRN_CHECK(bn.running_mean.defined() && bn.running_var.defined(),
            "inference graph: a BatchNorm without running statistics cannot be evaluated");
  n.mean = copy(bn.running_mean);
  n.var = copy(bn.running_var);
  n.eps = bn.options.eps();
  return n;
}

Node relu() { return Node{}; }

Node max_pool(int64_t kernel, int64_t stride, int64_t padding) {
  Node n;
  n.kind = Node::Kind::MaxPool;
  n.kernel = {kernel, kernel};
  n.stride = {stride, stride};
  n.padding = {padding, padding};
  return n;
}

Node head(const torch::nn::LinearImpl& fc) {
  torch::NoGradGuard no_grad;
  Node n;
  n.kind = Node::Kind::Head;
  n.source = &fc;
  n.weight = copy(fc.weight);
  n.bias = copy(fc.bias);
  return n;
}

Node residual(const torch::nn::Module& unit, Residual r) {
  WRN_CHECK(!r.branch.empty(), "inference graph: a residual unit needs a branch");
  Node n;
  n.kind = Node::Kind::Residual;
  n.source = &unit;
  n.residual = std::make_shared<Residual>(std::move(r));
  return n;
}

Residual preact_residual(const std::vector<torch::nn::BatchNorm2d>& bns, const std::vector<torch::nn::Conv2d>& convs) {
  WRN_CHECK(!convs.empty() && bns.size() == convs.size(), "inference graph: a pre-activation unit needs one BN per conv");
  Residual r;
  r.pre = {batch_norm(*bns[0]), relu()};
  r.branch.push_back(conv(*convs[0]));
  for (size_t i = 1; i < convs.size(); ++i) {
    r.branch.push_back(batch_norm(*bns[i]));
    r.branch.push_back(relu());
    r.branch.push_back(conv(*convs[i]));
  }
  r.shortcut_from_pre = true;
  return r;
}

void name_nodes(Seq& seq, const torch::nn::Module& root) {
  std::unordered_map<const torch::nn::Module*, std::string> names;
  names[&root] = "";
  for (const auto& item : root.named_modules("", /*include_self=*/false)) names[item.value().get()] = item.key();
  name_seq(seq, names);
}

}  // namespace wrn::models::graph
