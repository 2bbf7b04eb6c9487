#include "wrn/models/resnet.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/dropout.h>
#include <torch/nn/functional/pooling.h>

#include "wrn/core/error.h"
#include "wrn/models/batch_norm.h"
#include "wrn/models/shortcut.h"

namespace wrn::models {
namespace F = torch::nn::functional;

namespace {

bool bn_after_conv(ActivationOrder order) {
  return order == ActivationOrder::Original || order == ActivationOrder::ReluBeforeAddition ||
         order == ActivationOrder::ReluOnlyPreact;
}

void validate(const ResNetOptions& o) {
  WRN_CHECK(!o.layers().empty(), "ResNet: layers must list the blocks of at least one stage");
  WRN_CHECK(o.layers().size() == o.planes().size(), "ResNet: layers has {} stages but planes has {}",
            o.layers().size(), o.planes().size());
  for (auto n : o.layers()) WRN_CHECK(n >= 1, "ResNet: every stage needs at least one block, got {}", n);
  for (auto p : o.planes()) WRN_CHECK(p >= 1, "ResNet: stage widths must be positive, got {}", p);
  WRN_CHECK(o.num_classes() >= 1, "ResNet: classes must be at least 1, got {}", o.num_classes());
  WRN_CHECK(o.in_channels() >= 1, "ResNet: input channels must be at least 1, got {}", o.in_channels());
  WRN_CHECK(o.groups() >= 1, "ResNet: groups must be at least 1, got {}", o.groups());
  WRN_CHECK(o.width_per_group() >= 1, "ResNet: width_per_group must be at least 1, got {}", o.width_per_group());
  if (o.block() == BlockKind::Basic) {
    WRN_CHECK(o.groups() == 1 && o.width_per_group() == 64,
              "ResNet: basic blocks support only groups=1 and width_per_group=64 (got {} and {}); "
              "use bottleneck blocks for ResNeXt and wide variants",
              o.groups(), o.width_per_group());
  }
  WRN_CHECK(!(o.shortcut_variant() == ShortcutVariant::Conv1x1 && o.shortcut() == ShortcutType::A),
            "ResNet: the conv1x1 shortcut variant projects every shortcut; it cannot be combined with shortcut A");
  WRN_CHECK(o.shortcut_dropout() >= 0.0 && o.shortcut_dropout() < 1.0,
            "ResNet: shortcut_dropout must be in [0, 1), got {}", o.shortcut_dropout());
}

}  // namespace

ResNetBlockImpl::ResNetBlockImpl(const ResNetOptions& options, int64_t in_channels, int64_t planes, int64_t stride)
    : options_(options), in_channels_(in_channels), stride_(stride) {
  const auto order = options.activation();
  // Channels and strides of the branch's convolutions.
  struct ConvSpec {
    int64_t in, out, kernel, stride, groups;
  };
  std::vector<ConvSpec> specs;
  specs.reserve(3);  // also keeps GCC 12 from a false -Wnonnull in the assignments below
  if (options.block() == BlockKind::Basic) {
    out_channels_ = planes;
    specs = {{in_channels, planes, 3, stride, 1}, {planes, planes, 3, 1, 1}};
  } else {
    const int64_t width = static_cast<int64_t>(planes * (options.width_per_group() / 64.0)) * options.groups();
    out_channels_ = planes * 4;
    const bool stride_first = options.stride_in() == StrideIn::Conv1x1;
    specs = {{in_channels, width, 1, stride_first ? stride : 1, 1},
             {width, width, 3, stride_first ? 1 : stride, options.groups()},
             {width, out_channels_, 1, 1, 1}};
  }
  const size_t m = specs.size();
  for (size_t i = 0; i < m; ++i) {
    const auto& s = specs[i];
    auto conv = register_module("conv" + std::to_string(i + 1), make_conv(s.in, s.out, s.kernel, s.stride, s.groups));
    init_conv(conv, options.init());
    convs_.push_back(conv);
    int64_t bn_channels = bn_after_conv(order) || order == ActivationOrder::BnAfterAddition ? s.out : s.in;
    if (order == ActivationOrder::BnAfterAddition && i + 1 == m) {
      post_bn_ = register_module("bn" + std::to_string(i + 1), make_bn(out_channels_));
      init_bn(post_bn_, options.init());
    } else {
      auto bn = register_module("bn" + std::to_string(i + 1), make_bn(bn_channels));
      init_bn(bn, options.init());
      bns_.push_back(bn);
    }
  }
  if (options.init().zero_init_residual && order != ActivationOrder::BnAfterAddition) zero_bn_gamma(bns_.back());

  const bool shape_changes = stride != 1 || in_channels != out_channels_;
  const bool project = options.shortcut() == ShortcutType::C ||
                       options.shortcut_variant() == ShortcutVariant::Conv1x1 ||
                       (shape_changes && options.shortcut() == ShortcutType::B);
  if (project) {
    auto conv = make_conv(in_channels, out_channels_, 1, stride);
    auto bn = make_bn(out_channels_);
    init_conv(conv, options.init());
    init_bn(bn, options.init());
    downsample_ = register_module("downsample", torch::nn::Sequential(conv, bn));
  }
  if (options.shortcut_variant() == ShortcutVariant::ExclusiveGating ||
      options.shortcut_variant() == ShortcutVariant::ShortcutOnlyGating) {
    gate_ = register_module("gate", make_conv(in_channels, out_channels_, 1, stride, 1, /*bias=*/true));
    init_conv(gate_, options.init());
    torch::NoGradGuard no_grad;
    gate_->bias.fill_(options.gate_bias());
  }
}

torch::Tensor ResNetBlockImpl::shortcut(const torch::Tensor& x) {
  if (downsample_)  // conv, then BatchNorm (synchronized under model.sync_bn)
    return batch_norm(*downsample_->ptr(1)->as<torch::nn::BatchNorm2dImpl>(),
                      downsample_->ptr(0)->as<torch::nn::Conv2dImpl>()->forward(x));
  if (stride_ != 1 || in_channels_ != out_channels_) return zero_pad_shortcut(x, out_channels_, stride_);
  return x;
}

torch::Tensor ResNetBlockImpl::branch(const torch::Tensor& x, bool without_last_bn) {
  const auto order = options_.activation();
  const size_t m = convs_.size();
  torch::Tensor h = x;
  if (order == ActivationOrder::FullPreact) {
    for (size_t i = 0; i < m; ++i) h = convs_[i]->forward(batch_norm_relu(*bns_[i], h));
    return h;
  }
  if (order == ActivationOrder::ReluOnlyPreact) h = F::relu(h);
  for (size_t i = 0; i < m; ++i) {
    h = convs_[i]->forward(h);
    const bool last = i + 1 == m;
    if (last && (order == ActivationOrder::BnAfterAddition || without_last_bn)) break;
    const bool relu = !last || order == ActivationOrder::ReluBeforeAddition;
    h = relu ? batch_norm_relu(*bns_[i], h) : batch_norm(*bns_[i], h);
  }
  return h;
}

torch::Tensor ResNetBlockImpl::forward(const torch::Tensor& x) {
  // The original block's end, relu(bn(h) + shortcut), as one fused op (models/batch_norm.h).
  if (options_.activation() == ActivationOrder::Original &&
      (options_.shortcut_variant() == ShortcutVariant::Identity || options_.shortcut_variant() == ShortcutVariant::Conv1x1)) {
    torch::Tensor h = branch(x, /*without_last_bn=*/true);
    return batch_norm_add_relu(*bns_.back(), h, shortcut(x));
  }
  torch::Tensor f = branch(x);
  torch::Tensor s = shortcut(x);
  torch::Tensor y;
  switch (options_.shortcut_variant()) {
    case ShortcutVariant::Identity:
    case ShortcutVariant::Conv1x1:
      y = f + s;
      break;
    case ShortcutVariant::ConstantScaling: {
      const double lambda = options_.shortcut_scale();
      y = (options_.scale_branch() ? f * (1.0 - lambda) : f) + s * lambda;
      break;
    }
    case ShortcutVariant::ExclusiveGating: {
      auto g = torch::sigmoid(gate_->forward(x));
      y = g * f + (1 - g) * s;
      break;
    }
    case ShortcutVariant::ShortcutOnlyGating: {
      auto g = torch::sigmoid(gate_->forward(x));
      y = f + (1 - g) * s;
      break;
    }
    case ShortcutVariant::Dropout:
      y = f + F::dropout(s, F::DropoutFuncOptions().p(options_.shortcut_dropout()).training(is_training()));
      break;
  }
  switch (options_.activation()) {
    case ActivationOrder::Original:
      return F::relu(y);
    case ActivationOrder::BnAfterAddition:
      return batch_norm_relu(*post_bn_, y);
    default:
      return y;
  }
}

graph::Node ResNetBlockImpl::to_graph() const {
  using graph::Residual;
  const auto order = options_.activation();
  const size_t m = convs_.size();
  Residual r;
  // branch(), op for op.
  if (order == ActivationOrder::FullPreact) {
    for (size_t i = 0; i < m; ++i) {
      r.branch.push_back(graph::batch_norm(*bns_[i]));
      r.branch.push_back(graph::relu());
      r.branch.push_back(graph::conv(*convs_[i]));
    }
  } else {
    if (order == ActivationOrder::ReluOnlyPreact) r.branch.push_back(graph::relu());
    for (size_t i = 0; i < m; ++i) {
      r.branch.push_back(graph::conv(*convs_[i]));
      const bool last = i + 1 == m;
      if (last && order == ActivationOrder::BnAfterAddition) break;
      r.branch.push_back(graph::batch_norm(*bns_[i]));
      if (!last || order == ActivationOrder::ReluBeforeAddition) r.branch.push_back(graph::relu());
    }
  }
  // shortcut()
  if (downsample_) {
    r.shortcut = Residual::Shortcut::Projection;
    r.projection.push_back(graph::conv(*downsample_->ptr(0)->as<torch::nn::Conv2dImpl>()));
    r.projection.push_back(graph::batch_norm(*downsample_->ptr(1)->as<torch::nn::BatchNorm2dImpl>()));
  } else if (stride_ != 1 || in_channels_ != out_channels_) {
    r.shortcut = Residual::Shortcut::ZeroPad;
    r.pad_extra = out_channels_ - in_channels_;
    r.pad_stride = stride_;
  }
  // The combination in forward(); dropout on the shortcut is the identity in evaluation.
  switch (options_.shortcut_variant()) {
    case ShortcutVariant::Identity:
    case ShortcutVariant::Conv1x1:
    case ShortcutVariant::Dropout:
      r.combine = Residual::Combine::Add;
      break;
    case ShortcutVariant::ConstantScaling:
      r.combine = Residual::Combine::Scaled;
      r.branch_scale = options_.scale_branch() ? 1.0 - options_.shortcut_scale() : 1.0;
      r.shortcut_scale = options_.shortcut_scale();
      break;
    case ShortcutVariant::ExclusiveGating:
    case ShortcutVariant::ShortcutOnlyGating:
      r.combine = options_.shortcut_variant() == ShortcutVariant::ExclusiveGating ? Residual::Combine::ExclusiveGate
                                                                                  : Residual::Combine::ShortcutOnlyGate;
      r.gate.push_back(graph::conv(*gate_));
      break;
  }
  if (order == ActivationOrder::Original) {
    r.post.push_back(graph::relu());
  } else if (order == ActivationOrder::BnAfterAddition) {
    r.post.push_back(graph::batch_norm(*post_bn_));
    r.post.push_back(graph::relu());
  }
  return graph::residual(*this, std::move(r));
}

ResNetImpl::ResNetImpl(const ResNetOptions& options) : options_(options) {
  validate(options);
  const bool imagenet = options.stem() == Stem::ImageNet;
  const int64_t stem_width = imagenet ? 64 : options.planes()[0];
  conv1_ = register_module("conv1", imagenet ? make_conv(options.in_channels(), stem_width, 7, 2)
                                             : make_conv(options.in_channels(), stem_width, 3, 1));
  bn1_ = register_module("bn1", make_bn(stem_width));
  init_conv(conv1_, options.init());
  init_bn(bn1_, options.init());

  int64_t channels = stem_width;
  for (size_t s = 0; s < options.layers().size(); ++s) {
    torch::nn::ModuleList list;
    std::vector<ResNetBlock> blocks;
    for (int64_t b = 0; b < options.layers()[s]; ++b) {
      int64_t stride = (s > 0 && b == 0) ? 2 : 1;
      ResNetBlock block(options, channels, options.planes()[s], stride);
      channels = block->out_channels();
      list->push_back(block);
      blocks.push_back(block);
    }
    register_module("layer" + std::to_string(s + 1), list);
    stages_.push_back(blocks);
  }
  if (options.activation() == ActivationOrder::FullPreact) {
    final_bn_ = register_module("final_bn", make_bn(channels));
    init_bn(final_bn_, options.init());
  }
  fc_ = register_module("fc", torch::nn::Linear(channels, options.num_classes()));
  init_linear(fc_);
}

torch::Tensor ResNetImpl::forward_stages(const torch::Tensor& x, std::vector<StageOutput>* stages) {
  torch::Tensor h = batch_norm_relu(*bn1_, conv1_->forward(x));
  if (options_.stem() == Stem::ImageNet) h = stem_max_pool(h);
  if (stages) stages->push_back({"stem", h});
  for (size_t s = 0; s < stages_.size(); ++s) {
    for (auto& block : stages_[s]) h = block->forward(h);
    if (stages) stages->push_back({"layer" + std::to_string(s + 1), h});
  }
  if (final_bn_) {
    h = batch_norm_relu(*final_bn_, h);
  } else if (options_.activation() == ActivationOrder::ReluOnlyPreact) {
    h = F::relu(h);
  }
  h = F::adaptive_avg_pool2d(h, F::AdaptiveAvgPool2dFuncOptions(1)).flatten(1);
  if (stages) stages->push_back({"pool", h});
  h = fc_->forward(h);
  if (stages) stages->push_back({"fc", h});
  return h;
}

graph::Seq ResNetImpl::to_graph() const {
  graph::Seq body{graph::conv(*conv1_), graph::batch_norm(*bn1_), graph::relu()};
  if (options_.stem() == Stem::ImageNet) body.push_back(stem_max_pool_node());
  for (const auto& stage : stages_) {
    for (const auto& block : stage) body.push_back(block->to_graph());
  }
  if (final_bn_) {
    body.push_back(graph::batch_norm(*final_bn_));
    body.push_back(graph::relu());
  } else if (options_.activation() == ActivationOrder::ReluOnlyPreact) {
    body.push_back(graph::relu());
  }
  body.push_back(graph::head(*fc_));
  return body;
}

void ResNetImpl::reset_classifier(int64_t classes) {
  fc_ = replace_classifier(fc_, classes);
  options_.num_classes(classes);
}

}  // namespace wrn::models
