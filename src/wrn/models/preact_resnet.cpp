#include "wrn/models/preact_resnet.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/pooling.h>
#include <torch/nn/modules/container/modulelist.h>

#include "wrn/core/error.h"
#include "wrn/models/batch_norm.h"
#include "wrn/models/shortcut.h"

namespace wrn::models {
namespace F = torch::nn::functional;

PreActBlockImpl::PreActBlockImpl(const PreActResNetOptions& options, int64_t in_channels, int64_t planes,
                                 int64_t stride)
    : in_channels_(in_channels), stride_(stride) {
  struct ConvSpec {
    int64_t in, out, kernel, stride;
  };
  std::vector<ConvSpec> specs;
  specs.reserve(3);  // also keeps GCC 12 from a false -Wnonnull in the assignments below
  if (options.block() == BlockKind::Basic) {
    out_channels_ = planes;
    specs = {{in_channels, planes, 3, stride}, {planes, planes, 3, 1}};
  } else {
    out_channels_ = planes * 4;
    specs = {{in_channels, planes, 1, 1}, {planes, planes, 3, stride}, {planes, out_channels_, 1, 1}};
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto& s = specs[i];
    auto bn = register_module("bn" + std::to_string(i + 1), make_bn(s.in));
    auto conv = register_module("conv" + std::to_string(i + 1), make_conv(s.in, s.out, s.kernel, s.stride));
    init_bn(bn, options.init());
    init_conv(conv, options.init());
    bns_.push_back(bn);
    convs_.push_back(conv);
  }
  if (options.init().zero_init_residual) zero_bn_gamma(bns_.back());
  if (stride != 1 || in_channels != out_channels_) {
    if (options.shortcut() == ShortcutType::A) {
      zero_pad_ = true;
    } else {
      shortcut_ = register_module("shortcut", make_conv(in_channels, out_channels_, 1, stride));
      init_conv(shortcut_, options.init());
    }
  }
}

torch::Tensor PreActBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor activated = batch_norm_relu(*bns_[0], x);
  torch::Tensor s = shortcut_ ? shortcut_->forward(activated)
                    : zero_pad_ ? zero_pad_shortcut(activated, out_channels_, stride_)
                                : x;
  torch::Tensor h = convs_[0]->forward(activated);
  for (size_t i = 1; i < convs_.size(); ++i) h = convs_[i]->forward(batch_norm_relu(*bns_[i], h));
  return h + s;
}

graph::Node PreActBlockImpl::to_graph() const {
  graph::Residual r = graph::preact_residual(bns_, convs_);
  if (shortcut_) {
    r.shortcut = graph::Residual::Shortcut::Projection;
    r.projection.push_back(graph::conv(*shortcut_));
  } else if (zero_pad_) {
    r.shortcut = graph::Residual::Shortcut::ZeroPad;
    r.pad_extra = out_channels_ - in_channels_;
    r.pad_stride = stride_;
  } else {
    r.shortcut_from_pre = false;  // the identity reads x
  }
  return graph::residual(*this, std::move(r));
}

PreActResNetImpl::PreActResNetImpl(const PreActResNetOptions& options) : options_(options) {
  const auto& o = options;
  WRN_CHECK(!o.layers().empty() && o.layers().size() == o.planes().size(),
            "PreActResNet: layers ({} stages) and planes ({} stages) must list the same, non-zero number of stages",
            o.layers().size(), o.planes().size());
  for (auto n : o.layers()) WRN_CHECK(n >= 1, "PreActResNet: every stage needs at least one block, got {}", n);
  WRN_CHECK(o.num_classes() >= 1, "PreActResNet: classes must be at least 1, got {}", o.num_classes());
  WRN_CHECK(o.in_channels() >= 1, "PreActResNet: input channels must be at least 1, got {}", o.in_channels());
  WRN_CHECK(o.shortcut() != ShortcutType::C, "PreActResNet: shortcut must be A (zero padding) or B (projection)");

  const bool imagenet = o.stem() == Stem::ImageNet;
  const int64_t stem_width = imagenet ? 64 : o.stem_width();
  conv1_ = register_module("conv1", imagenet ? make_conv(o.in_channels(), stem_width, 7, 2)
                                             : make_conv(o.in_channels(), stem_width, 3, 1));
  init_conv(conv1_, o.init());
  if (imagenet) {
    bn1_ = register_module("bn1", make_bn(stem_width));
    init_bn(bn1_, o.init());
  }
  int64_t channels = stem_width;
  for (size_t s = 0; s < o.layers().size(); ++s) {
    torch::nn::ModuleList list;
    std::vector<PreActBlock> blocks;
    for (int64_t b = 0; b < o.layers()[s]; ++b) {
      PreActBlock block(o, channels, o.planes()[s], (s > 0 && b == 0) ? 2 : 1);
      channels = block->out_channels();
      list->push_back(block);
      blocks.push_back(block);
    }
    register_module("layer" + std::to_string(s + 1), list);
    stages_.push_back(blocks);
  }
  if (o.final_bn()) {
    final_bn_ = register_module("final_bn", make_bn(channels));
    init_bn(final_bn_, o.init());
  }
  fc_ = register_module("fc", torch::nn::Linear(channels, o.num_classes()));
  init_linear(fc_);
}

torch::Tensor PreActResNetImpl::forward_stages(const torch::Tensor& x, std::vector<StageOutput>* stages) {
  torch::Tensor h = conv1_->forward(x);
  if (bn1_) {
    h = stem_max_pool(batch_norm_relu(*bn1_, h));
  } else if (options_.stem_relu()) {
    h = F::relu(h);
  }
  if (stages) stages->push_back({"stem", h});
  for (size_t s = 0; s < stages_.size(); ++s) {
    for (auto& block : stages_[s]) h = block->forward(h);
    if (stages) stages->push_back({"layer" + std::to_string(s + 1), h});
  }
  h = final_bn_ ? batch_norm_relu(*final_bn_, h) : F::relu(h);
  h = F::adaptive_avg_pool2d(h, F::AdaptiveAvgPool2dFuncOptions(1)).flatten(1);
  if (stages) stages->push_back({"pool", h});
  h = fc_->forward(h);
  if (stages) stages->push_back({"fc", h});
  return h;
}

graph::Seq PreActResNetImpl::to_graph() const {
  graph::Seq body{graph::conv(*conv1_)};
  if (bn1_) {
    body.push_back(graph::batch_norm(*bn1_));
    body.push_back(graph::relu());
    body.push_back(stem_max_pool_node());
  } else if (options_.stem_relu()) {
    body.push_back(graph::relu());
  }
  for (const auto& stage : stages_) {
    for (const auto& block : stage) body.push_back(block->to_graph());
  }
  if (final_bn_) body.push_back(graph::batch_norm(*final_bn_));
  body.push_back(graph::relu());
  body.push_back(graph::head(*fc_));
  return body;
}

void PreActResNetImpl::reset_classifier(int64_t classes) {
  fc_ = replace_classifier(fc_, classes);
  options_.num_classes(classes);
}

}  // namespace wrn::models
