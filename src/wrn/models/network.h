// The common face of every network in the zoo.
//
// Contract: a Classifier maps a float batch [N, C, H, W] (already normalized) to logits
// [N, classes]. Its parameters and buffers carry the family's state_dict names
// (torchvision's for the ImageNet ResNets), so weights move between wrn and PyTorch
// unchanged. Construction validates the options and throws wrn::ConfigError with a
// sentence a user can act on. Weight initialization is done by the blocks themselves.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "wrn/models/graph.h"

namespace wrn::models {

// The shape of one input image.
struct InputShape {
  int64_t channels = 3;
  int64_t height = 32;
  int64_t width = 32;

  std::string str() const;  // "3x32x32"
  // Parses "CxHxW" (e.g. "1x28x28"); throws ConfigError naming `what` otherwise.
  static InputShape parse(const std::string& text, const std::string& what = "--input");
  // ImageNet-sized (height or width >= 128): evaluated with torchvision's resize-and-center-crop
  // and normalized with the ImageNet statistics unless told otherwise.
  bool imagenet_sized() const { return height >= 128 || width >= 128; }
  bool operator==(const InputShape& o) const {
    return channels == o.channels && height == o.height && width == o.width;
  }
};

// One named intermediate output, reported by forward_stages (for `wrn info`).
struct StageOutput {
  std::string name;
  torch::Tensor value;
};

class ClassifierImpl : public torch::nn::Module {
 public:
  ~ClassifierImpl() override = default;

  torch::Tensor forward(const torch::Tensor& x) { return forward_stages(x, nullptr); }

  // Runs the network. When `stages` is non-null, appends the output of the stem, of each
  // stage and of the pooling, in order.
  virtual torch::Tensor forward_stages(const torch::Tensor& x, std::vector<StageOutput>* stages) = 0;

  // "resnet", "preact_resnet" or "wide_resnet".
  virtual std::string family() const = 0;
  virtual int64_t num_classes() const = 0;

  // Replaces the final linear layer by a freshly initialized one with `classes` outputs
  // (fine-tuning on a new label set keeps every other weight).
  virtual void reset_classifier(int64_t classes) = 0;

  // The evaluation-mode computation as an op tree (graph.h), each block describing itself
  // next to its forward; nodes are named after their modules. What the BN folding, the fused
  // runner and the ONNX / TorchScript exporters work from.
  graph::Seq op_graph() const;

 protected:
  // The unnamed op tree; op_graph() names its nodes.
  virtual graph::Seq to_graph() const = 0;

  // Registers a fresh classifier named "fc" in place of `old` (same device, bias 0) and
  // returns it; the shared body of reset_classifier.
  torch::nn::Linear replace_classifier(const torch::nn::Linear& old, int64_t classes);
};

using Classifier = std::shared_ptr<ClassifierImpl>;

}  // namespace wrn::models
