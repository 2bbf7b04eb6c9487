// Post-activation ResNet (He et al. 2015) and its torchvision descendants (ResNeXt,
// wide_resnet50_2), plus the Identity Mappings paper's ablations on the CIFAR ResNets.
//
// One family covers: basic and bottleneck blocks; the ImageNet stem (7x7/2 conv, 3x3/2
// max-pool) and the CIFAR stem (3x3 conv); shortcut options A (zero-padding identity),
// B (1x1 projection + BN where the shape changes) and C (projection everywhere); the
// stride in the 3x3 (torchvision "v1.5") or in the first 1x1 (paper "v1"); groups and
// width per group (ResNeXt). With the defaults and torchvision's layer counts the
// state_dict names and shapes are exactly torchvision's (conv1, bn1, layer1.0.conv1, ...,
// layer1.0.downsample.0, fc).
#pragma once

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>

#include <vector>

#include "wrn/models/init.h"
#include "wrn/models/network.h"

namespace wrn::models {

enum class BlockKind { Basic, Bottleneck };
enum class Stem { ImageNet, Cifar };
enum class ShortcutType { A, B, C };
enum class StrideIn { Conv3x3, Conv1x1 };

// Where BN and ReLU sit relative to the addition (Identity Mappings, Fig. 4).
enum class ActivationOrder { Original, BnAfterAddition, ReluBeforeAddition, ReluOnlyPreact, FullPreact };

// What the shortcut does (Identity Mappings, Fig. 2).
enum class ShortcutVariant { Identity, ConstantScaling, ExclusiveGating, ShortcutOnlyGating, Conv1x1, Dropout };

struct ResNetOptions {
  TORCH_ARG(BlockKind, block) = BlockKind::Basic;
  TORCH_ARG(std::vector<int64_t>, layers) = std::vector<int64_t>{2, 2, 2, 2};  // blocks per stage
  TORCH_ARG(std::vector<int64_t>, planes) = std::vector<int64_t>{64, 128, 256, 512};
  TORCH_ARG(Stem, stem) = Stem::ImageNet;
  TORCH_ARG(ShortcutType, shortcut) = ShortcutType::B;
  TORCH_ARG(StrideIn, stride_in) = StrideIn::Conv3x3;
  TORCH_ARG(int64_t, groups) = 1;
  TORCH_ARG(int64_t, width_per_group) = 64;
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, num_classes) = 1000;
  TORCH_ARG(ActivationOrder, activation) = ActivationOrder::Original;
  TORCH_ARG(ShortcutVariant, shortcut_variant) = ShortcutVariant::Identity;
  TORCH_ARG(double, shortcut_scale) = 0.5;    // lambda, for ConstantScaling
  TORCH_ARG(bool, scale_branch) = true;       // ConstantScaling: scale the branch by 1 - lambda too
  TORCH_ARG(double, gate_bias) = -6.0;        // initial b_g of the 1x1-conv sigmoid gates
  TORCH_ARG(double, shortcut_dropout) = 0.5;  // for the Dropout variant
  TORCH_ARG(InitOptions, init) = InitOptions{ConvInit::FanOut, BnInit::Ones, false};
};

// One residual unit of the post-activation family; the activation order and shortcut
// variant are those of the network's options.
class ResNetBlockImpl : public torch::nn::Module {
 public:
  ResNetBlockImpl(const ResNetOptions& options, int64_t in_channels, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);
  // The unit's evaluation-mode op tree (a graph::Residual), the same computation as forward.
  graph::Node to_graph() const;
  int64_t out_channels() const { return out_channels_; }

 private:
  torch::Tensor shortcut(const torch::Tensor& x);
  // The residual branch; without_last_bn: stops after the last convolution (forward() then
  // applies that BatchNorm fused with the addition and the ReLU).
  torch::Tensor branch(const torch::Tensor& x, bool without_last_bn = false);

  ResNetOptions options_;
  int64_t in_channels_, out_channels_, stride_;
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<torch::nn::BatchNorm2d> bns_;   // one per conv, except with BnAfterAddition
  torch::nn::BatchNorm2d post_bn_{nullptr};   // BnAfterAddition: the BN after the addition
  torch::nn::Sequential downsample_{nullptr};  // projection shortcut (conv, BN)
  torch::nn::Conv2d gate_{nullptr};           // gating variants
};
TORCH_MODULE(ResNetBlock);

class ResNetImpl : public ClassifierImpl {
 public:
  explicit ResNetImpl(const ResNetOptions& options);
  torch::Tensor forward_stages(const torch::Tensor& x, std::vector<StageOutput>* stages) override;
  std::string family() const override { return "resnet"; }
  int64_t num_classes() const override { return options_.num_classes(); }
  void reset_classifier(int64_t classes) override;
  const ResNetOptions& options() const { return options_; }

 protected:
  graph::Seq to_graph() const override;

 private:
  ResNetOptions options_;
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  std::vector<std::vector<ResNetBlock>> stages_;
  torch::nn::BatchNorm2d final_bn_{nullptr};  // pre-activation orders: the last unit's activation
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(ResNet);

}  // namespace wrn::models
