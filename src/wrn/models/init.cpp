#include "wrn/models/init.h"

#include <torch/nn/init.h>

#include "wrn/core/error.h"

namespace wrn::models {

void init_conv(const torch::nn::Conv2d& conv, const InitOptions& options) {
  torch::NoGradGuard no_grad;
  if (options.conv == ConvInit::FanIn) {
    torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanIn, torch::kReLU);
  } else {
    torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
  }
  if (conv->bias.defined()) conv->bias.zero_();
}

void init_bn(const torch::nn::BatchNorm2d& bn, const InitOptions& options) {
  torch::NoGradGuard no_grad;
  if (options.bn == BnInit::Uniform) {
    bn->weight.uniform_(0.0, 1.0);
  } else {
    bn->weight.fill_(1.0);
  }
  bn->bias.zero_();
}

void init_linear(const torch::nn::Linear& linear) {
  torch::NoGradGuard no_grad;
  if (linear->bias.defined()) linear->bias.zero_();
}

void zero_bn_gamma(const torch::nn::BatchNorm2d& bn) {
  torch::NoGradGuard no_grad;
  bn->weight.zero_();
}

ConvInit parse_conv_init(const std::string& value) {
  if (value == "fan_in") return ConvInit::FanIn;
  if (value == "fan_out") return ConvInit::FanOut;
  throw ConfigError(fmt::format("init: expected fan_in or fan_out, got '{}'", value));
}

BnInit parse_bn_init(const std::string& value) {
  if (value == "ones") return BnInit::Ones;
  if (value == "uniform") return BnInit::Uniform;
  throw ConfigError(fmt::format("bn_init: expected ones or uniform, got '{}'", value));
}

torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups, bool bias) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                               .stride(stride)
                               .padding(kernel / 2)
                               .groups(groups)
                               .bias(bias));
}

torch::nn::BatchNorm2d make_bn(int64_t channels) { return torch::nn::BatchNorm2d(channels); }

}  // namespace wrn::models
