#include "wrn/infer/fused_model.h"

#include <ATen/Config.h>
#include <ATen/ops/mkldnn_convolution.h>
#include <ATen/ops/mkldnn_reorder_conv2d_weight.h>
#include <torch/types.h>

#include <array>
#include <memory>
#include <vector>

#include "wrn/core/cpu_features.h"
#include "wrn/core/enum_names.h"
#include "wrn/core/error.h"
#include "wrn/core/memory.h"
#include "wrn/infer/graph_lowering.h"
#include "wrn/kernels/batch_norm_relu.h"
#include "wrn/models/shortcut.h"

namespace wrn::infer {

namespace {
constexpr std::array<EnumName<Layout>, 3> kLayouts{
    {{Layout::Contiguous, "contiguous"}, {Layout::ChannelsLast, "channels_last"}, {Layout::Mkldnn, "mkldnn"}}};
}  // namespace

Layout parse_layout(const std::string& text) {
  if (auto layout = find_enum(kLayouts, text)) return *layout;
  throw ConfigError(fmt::format("layout must be contiguous, channels_last or mkldnn, got '{}'", text));
}

std::string layout_name(Layout layout) { return enum_name(kLayouts, layout); }

// LibTorch 2.x's oneDNN runs NHWC convolutions with its brgemm kernels, which beat the blocked
// layout on the CIFAR-sized networks (docs/precision-and-speed.md, "Inference speed").
Layout default_layout() { return Layout::ChannelsLast; }

// ---------------------------------------------------------------------------------------
// The interpreter over the op tree (inference_graph.h).

struct FusedClassifier::Program {
  graph::Seq body;
  Layout layout = Layout::Contiguous;
};

namespace {

using graph::Node;
using graph::Seq;

// Weights in the run layout and dtype (BN affines keep float32 parameters: the batch norm
// kernels take bf16 data with float32 parameters).
void prepare(Seq& seq, Layout layout, c10::ScalarType dtype) {
  for (auto& node : seq) {
    if (node.kind == Node::Kind::Residual) {
      auto& r = *node.residual;
      for (Seq* sub : {&r.pre, &r.branch, &r.projection, &r.gate, &r.post}) prepare(*sub, layout, dtype);
    } else if (node.kind == Node::Kind::Head) {
      node.weight = node.weight.to(dtype);
      if (node.bias.defined()) node.bias = node.bias.to(dtype);
    } else if (node.kind == Node::Kind::Conv) {
      node.weight = node.weight.to(dtype);
      if (node.bias.defined()) node.bias = node.bias.to(dtype);
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

// The backend of graph_lowering.h: runs each op on tensors in the run layout. A Value knows
// whether it is a temporary that may be overwritten in place (ReLU, the residual addition).
class Runner {
 public:
  struct Value {
    torch::Tensor t;
    bool owned = false;
  };

  explicit Runner(Layout layout) : layout_(layout) {}

  Value shared(const Value& x) const { return {x.t, false}; }

  Value conv(const Node& n, const Value& x) const {
    torch::Tensor y = layout_ == Layout::Mkldnn
                          ? at::mkldnn_convolution(x.t, n.packed, n.bias, n.padding, n.stride, n.dilation, n.groups)
                          : at::conv2d(x.t, n.packed, n.bias, n.stride, n.padding, n.dilation, n.groups);
    if (n.relu) y.relu_();
    return {y, true};
  }
  // With its ReLU (n.relu) one pass over a dense tensor (kernels/batch_norm_relu.h), in place
  // on a temporary; ATen's batch_norm then relu_ otherwise (oneDNN tensors).
  Value affine(const Node& n, const Value& x) const {
    if (n.relu && kernels::batch_norm_relu_inference_supported(x.t, n.weight, n.bias, n.mean, n.var))
      return {kernels::batch_norm_relu_inference(x.t, n.weight, n.bias, n.mean, n.var, n.eps, x.owned), true};
    torch::Tensor y = at::batch_norm(x.t, n.weight, n.bias, n.mean, n.var, /*training=*/false, 0.0, n.eps,
                                     /*cudnn_enabled=*/false);
    if (n.relu) y.relu_();
    return {y, true};
  }
  Value relu(const Value& x) const { return {x.owned ? x.t.relu_() : x.t.relu(), true}; }
  Value max_pool(const Node& n, const Value& x) const {
    return {at::max_pool2d(x.t, n.kernel, n.stride, n.padding), true};
  }
  Value head(const Node& n, const Value& x) const {
    auto pooled = at::adaptive_avg_pool2d(dense(x.t), {1, 1}).flatten(1);
    return {at::linear(pooled, n.weight, n.bias), true};
  }
  Value zero_pad(const Value& x, int64_t stride, int64_t extra, const std::string&) const {
    const torch::Tensor d = dense(x.t);
    return {to_layout(models::zero_pad_shortcut(d, d.size(1) + extra, stride), layout_), true};
  }
  // The residual addition: in place on a fresh branch output. The ablations' arithmetic runs
  // on dense tensors (oneDNN tensors have no sigmoid), their sum goes back to the run layout.
  Value add(const Value& a, const Value& b, const std::string&) const {
    if (is_run_layout(a.t) && is_run_layout(b.t)) return {a.owned ? a.t.add_(b.t) : a.t + b.t, true};
    return {to_layout(dense(a.t) + dense(b.t), layout_), true};
  }
  Value mul(const Value& a, const Value& b, const std::string&) const { return {dense(a.t) * dense(b.t), true}; }
  Value scale(const Value& x, double factor, const std::string&) const { return {dense(x.t) * factor, true}; }
  Value sigmoid(const Value& x, const std::string&) const { return {torch::sigmoid(dense(x.t)), true}; }
  Value one_minus(const Value& x, const std::string&) const { return {1 - dense(x.t), true}; }

 private:
  bool is_run_layout(const torch::Tensor& t) const { return layout_ != Layout::Mkldnn || t.is_mkldnn(); }

  Layout layout_;
};

}  // namespace

FusedClassifier FusedClassifier::build(const models::Classifier& model, const FuseOptions& options) {
  WRN_CHECK(model != nullptr, "fused model: no classifier given");
  torch::NoGradGuard no_grad;
  InferenceGraph g = build_inference_graph(model, options.fold_batchnorm);
  FusedClassifier fused;
  fused.layout_ = options.layout;
  auto params = model->parameters();
  const bool on_cpu = params.empty() || params.front().device().is_cpu();
  WRN_CHECK(options.dtype == c10::kFloat || options.dtype == c10::kBFloat16,
            "fused model: dtype must be float32 or bfloat16, got {}", c10::toString(options.dtype));
  // oneDNN's own layout needs bf16 support in the CPU for bf16 weights (cpu_features.h).
  const bool mkldnn_ok = on_cpu && at::hasMKLDNN() && (options.dtype != c10::kBFloat16 || cpu_features().onednn_bf16);
  if (fused.layout_ == Layout::Mkldnn && !mkldnn_ok) fused.layout_ = Layout::ChannelsLast;
  fused.stats_ = g.stats;
  fused.dtype_ = options.dtype;
  prepare(g.body, fused.layout_, fused.dtype_);
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
  Runner runner(layout_);
  const auto in = to_layout(x.to(dtype_), layout_);
  return dense(lowering::lower(program_->body, Runner::Value{in, false}, runner).t).to(torch::kFloat).contiguous();
}

}  // namespace wrn::infer
