// Wide Residual Networks WRN-d-k (Zagoruyko & Komodakis 2016).
//
// A 3x3 conv stem (16 channels), three groups of pre-activation blocks of widths 16k, 32k,
// 64k, then BN -> ReLU -> global average pool -> fc. A block of type B(M) applies, for each
// kernel size in M, BN -> ReLU -> conv; dropout (when p > 0) sits between convolutions,
// after the ReLU. Where channels change, the shortcut is a 1x1 conv (no BN) on the
// activated input, as in the authors' code. Depth d = 3 * n * |M| + 4 for n blocks per
// group: d = 6n + 4 for the default B(3,3). The deepening factor l is B(3,...,3) with l
// convolutions. Weight init: Kaiming normal with fan_in, BN gamma 1, beta 0.
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>

#include <vector>

#include "wrn/models/init.h"
#include "wrn/models/network.h"

namespace wrn::models {

struct WideResNetOptions {
  TORCH_ARG(int64_t, depth) = 28;
  TORCH_ARG(int64_t, widen_factor) = 10;
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(std::vector<int64_t>, block_type) = std::vector<int64_t>{3, 3};  // B(M): kernel sizes
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, num_classes) = 10;
  TORCH_ARG(InitOptions, init) = InitOptions{ConvInit::FanIn, BnInit::Ones, false};

 public:  // (TORCH_ARG leaves the section private)
  // Blocks per group, n = (depth - 4) / (3 |M|); throws ConfigError when depth does not fit.
  int64_t blocks_per_group() const;
  // "B(3,3)"
  std::string block_name() const;
};

class WideBlockImpl : public torch::nn::Module {
 public:
  WideBlockImpl(const WideResNetOptions& options, int64_t in_channels, int64_t out_channels, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);
  // The unit's evaluation-mode op tree (a graph::Residual; dropout is the identity there).
  graph::Node to_graph() const;

 private:
  double dropout_;
  std::vector<torch::nn::BatchNorm2d> bns_;  // bns_[i] precedes convs_[i]
  std::vector<torch::nn::Conv2d> convs_;
  torch::nn::Conv2d shortcut_{nullptr};
};
TORCH_MODULE(WideBlock);

class WideResNetImpl : public ClassifierImpl {
 public:
  explicit WideResNetImpl(const WideResNetOptions& options);
  torch::Tensor forward_stages(const torch::Tensor& x, std::vector<StageOutput>* stages) override;
  std::string family() const override { return "wide_resnet"; }
  int64_t num_classes() const override { return options_.num_classes(); }
  void reset_classifier(int64_t classes) override;
  const WideResNetOptions& options() const { return options_; }

 protected:
  graph::Seq to_graph() const override;

 private:
  WideResNetOptions options_;
  torch::nn::Conv2d conv1_{nullptr};
  std::vector<std::vector<WideBlock>> groups_;
  torch::nn::BatchNorm2d final_bn_{nullptr};
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(WideResNet);

}  // namespace wrn::models
