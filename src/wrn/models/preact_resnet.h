// Pre-activation ResNet (He et al. 2016, "Identity Mappings in Deep Residual Networks").
//
// Units are BN -> ReLU -> conv (basic: two 3x3; bottleneck: 1x1, 3x3, 1x1 with 4x
// expansion). Where the shape changes the shortcut is a 1x1 projection conv (no BN,
// option B) or zero padding (option A); a non-identity shortcut takes the activated input,
// as in the authors' code. The network ends with BN -> ReLU (`final_bn`) -> global average
// pool -> fc. Covers preact_resnet110/164/1001 (CIFAR), the ImageNet preact_resnet152/200,
// and preact_resnet18 exactly as the seed code (3x3 conv 64 + ReLU stem, zero-padding
// shortcuts, final ReLU without BN).
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>

#include <vector>

#include "wrn/models/init.h"
#include "wrn/models/network.h"
#include "wrn/models/resnet.h"  // BlockKind, Stem, ShortcutType

namespace wrn::models {

struct PreActResNetOptions {
  TORCH_ARG(BlockKind, block) = BlockKind::Bottleneck;
  TORCH_ARG(std::vector<int64_t>, layers) = std::vector<int64_t>{18, 18, 18};
  TORCH_ARG(std::vector<int64_t>, planes) = std::vector<int64_t>{16, 32, 64};
  TORCH_ARG(Stem, stem) = Stem::Cifar;
  TORCH_ARG(int64_t, stem_width) = 16;
  TORCH_ARG(bool, stem_relu) = false;  // CIFAR stem: conv alone (true: conv + ReLU, the seed code)
  TORCH_ARG(ShortcutType, shortcut) = ShortcutType::B;  // A or B
  TORCH_ARG(bool, final_bn) = true;    // false: only a ReLU before pooling (the seed code)
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, num_classes) = 10;
  TORCH_ARG(InitOptions, init) = InitOptions{ConvInit::FanOut, BnInit::Ones, false};
};

class PreActBlockImpl : public torch::nn::Module {
 public:
  PreActBlockImpl(const PreActResNetOptions& options, int64_t in_channels, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);
  // The unit's evaluation-mode op tree (a graph::Residual), the same computation as forward.
  graph::Node to_graph() const;
  int64_t out_channels() const { return out_channels_; }

 private:
  int64_t in_channels_, out_channels_, stride_;
  bool zero_pad_ = false;
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<torch::nn::BatchNorm2d> bns_;  // bns_[i] precedes convs_[i]
  torch::nn::Conv2d shortcut_{nullptr};
};
TORCH_MODULE(PreActBlock);

class PreActResNetImpl : public ClassifierImpl {
 public:
  explicit PreActResNetImpl(const PreActResNetOptions& options);
  torch::Tensor forward_stages(const torch::Tensor& x, std::vector<StageOutput>* stages) override;
  std::string family() const override { return "preact_resnet"; }
  int64_t num_classes() const override { return options_.num_classes(); }
  void reset_classifier(int64_t classes) override;
  const PreActResNetOptions& options() const { return options_; }

 protected:
  graph::Seq to_graph() const override;

 private:
  PreActResNetOptions options_;
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};  // ImageNet stem only
  std::vector<std::vector<PreActBlock>> stages_;
  torch::nn::BatchNorm2d final_bn_{nullptr};
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(PreActResNet);

}  // namespace wrn::models
