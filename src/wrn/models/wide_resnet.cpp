#include "wrn/models/wide_resnet.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/dropout.h>
#include <torch/nn/functional/pooling.h>
#include <torch/nn/modules/container/modulelist.h>

#include "wrn/core/error.h"
#include "wrn/models/batch_norm.h"
#include "wrn/core/text.h"

namespace wrn::models {
namespace F = torch::nn::functional;

std::string WideResNetOptions::block_name() const {
  std::vector<std::string> k;
  for (auto v : block_type()) k.push_back(std::to_string(v));
  return "B(" + join(k, ",") + ")";
}

int64_t WideResNetOptions::blocks_per_group() const {
  const int64_t m = static_cast<int64_t>(block_type().size());
  WRN_CHECK(m >= 1, "WRN block type must list at least one convolution, e.g. block=3,3");
  const int64_t step = 3 * m;
  WRN_CHECK(depth() > 4 && (depth() - 4) % step == 0,
            "WRN depth must be {}n+4 with the {} block, got {}", step, block_name(), depth());
  return (depth() - 4) / step;
}

WideBlockImpl::WideBlockImpl(const WideResNetOptions& options, int64_t in_channels, int64_t out_channels,
                             int64_t stride)
    : dropout_(options.dropout()) {
  const auto& kernels = options.block_type();
  // The stride goes to the first convolution that sees a neighbourhood (a 1x1 conv with
  // stride 2 would drop three quarters of the pixels); to the first conv if all are 1x1.
  size_t strided = 0;
  for (size_t i = 0; i < kernels.size(); ++i) {
    if (kernels[i] > 1) {
      strided = i;
      break;
    }
  }
  int64_t channels = in_channels;
  for (size_t i = 0; i < kernels.size(); ++i) {
    auto bn = register_module("bn" + std::to_string(i + 1), make_bn(channels));
    auto conv = register_module("conv" + std::to_string(i + 1),
                                make_conv(channels, out_channels, kernels[i], i == strided ? stride : 1));
    init_bn(bn, options.init());
    init_conv(conv, options.init());
    bns_.push_back(bn);
    convs_.push_back(conv);
    channels = out_channels;
  }
  if (options.init().zero_init_residual) zero_bn_gamma(bns_.back());
  if (in_channels != out_channels || stride != 1) {
    shortcut_ = register_module("shortcut", make_conv(in_channels, out_channels, 1, stride));
    init_conv(shortcut_, options.init());
  }
}

torch::Tensor WideBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor activated = batch_norm_relu(*bns_[0], x);
  torch::Tensor s = shortcut_ ? shortcut_->forward(activated) : x;
  torch::Tensor h = convs_[0]->forward(activated);
  for (size_t i = 1; i < convs_.size(); ++i) {
    h = batch_norm_relu(*bns_[i], h);
    if (dropout_ > 0) h = F::dropout(h, F::DropoutFuncOptions().p(dropout_).training(is_training()));
    h = convs_[i]->forward(h);
  }
  return h + s;
}

graph::Node WideBlockImpl::to_graph() const {
  graph::Residual r = graph::preact_residual(bns_, convs_);
  if (shortcut_) {
    r.shortcut = graph::Residual::Shortcut::Projection;
    r.projection.push_back(graph::conv(*shortcut_));
  } else {
    r.shortcut_from_pre = false;  // the identity reads x
  }
  return graph::residual(*this, std::move(r));
}

WideResNetImpl::WideResNetImpl(const WideResNetOptions& options) : options_(options) {
  const auto& o = options;
  for (auto k : o.block_type()) {
    WRN_CHECK(k == 1 || k == 3, "WRN block type: kernel sizes must be 1 or 3, got {} in {}", k, o.block_name());
  }
  const int64_t n = o.blocks_per_group();
  WRN_CHECK(o.widen_factor() >= 1, "WRN widening factor k must be at least 1, got {}", o.widen_factor());
  WRN_CHECK(o.dropout() >= 0.0 && o.dropout() < 1.0, "WRN dropout must be in [0, 1), got {}", o.dropout());
  WRN_CHECK(o.num_classes() >= 1, "WRN: classes must be at least 1, got {}", o.num_classes());
  WRN_CHECK(o.in_channels() >= 1, "WRN: input channels must be at least 1, got {}", o.in_channels());

  conv1_ = register_module("conv1", make_conv(o.in_channels(), 16, 3, 1));
  init_conv(conv1_, o.init());
  int64_t channels = 16;
  const int64_t widths[3] = {16 * o.widen_factor(), 32 * o.widen_factor(), 64 * o.widen_factor()};
  for (int g = 0; g < 3; ++g) {
    torch::nn::ModuleList list;
    std::vector<WideBlock> blocks;
    for (int64_t b = 0; b < n; ++b) {
      WideBlock block(o, channels, widths[g], (g > 0 && b == 0) ? 2 : 1);
      channels = widths[g];
      list->push_back(block);
      blocks.push_back(block);
    }
    register_module("layer" + std::to_string(g + 1), list);
    groups_.push_back(blocks);
  }
  final_bn_ = register_module("final_bn", make_bn(channels));
  init_bn(final_bn_, o.init());
  fc_ = register_module("fc", torch::nn::Linear(channels, o.num_classes()));
  init_linear(fc_);
}

torch::Tensor WideResNetImpl::forward_stages(const torch::Tensor& x, std::vector<StageOutput>* stages) {
  torch::Tensor h = conv1_->forward(x);
  if (stages) stages->push_back({"stem", h});
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (auto& block : groups_[g]) h = block->forward(h);
    if (stages) stages->push_back({"layer" + std::to_string(g + 1), h});
  }
  h = batch_norm_relu(*final_bn_, h);
  h = F::adaptive_avg_pool2d(h, F::AdaptiveAvgPool2dFuncOptions(1)).flatten(1);
  if (stages) stages->push_back({"pool", h});
  h = fc_->forward(h);
  if (stages) stages->push_back({"fc", h});
  return h;
}

graph::Seq WideResNetImpl::to_graph() const {
  graph::Seq body{graph::conv(*conv1_)};
  for (const auto& group : groups_) {
    for (const auto& block : group) body.push_back(block->to_graph());
  }
  body.push_back(graph::batch_norm(*final_bn_));
  body.push_back(graph::relu());
  body.push_back(graph::head(*fc_));
  return body;
}

void WideResNetImpl::reset_classifier(int64_t classes) {
  fc_ = replace_classifier(fc_, classes);
  options_.num_classes(classes);
}

}  // namespace wrn::models
