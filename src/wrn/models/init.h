// Weight initialization, applied by each block to its own layers.
//
// Conv weights: Kaiming normal with fan_in (the WRN code: normal(0, sqrt(2/fan_in))) or
// fan_out (torchvision). BatchNorm: gamma 1, beta 0, or gamma ~ U(0,1) as the original WRN
// Torch code does. Linear: bias 0 (weights keep LibTorch's default uniform init).
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <string>

namespace wrn::models {

enum class ConvInit { FanIn, FanOut };
enum class BnInit { Ones, Uniform };

struct InitOptions {
  ConvInit conv = ConvInit::FanOut;
  BnInit bn = BnInit::Ones;
  // Zero gamma of the last BN in each residual branch, so every block starts as identity.
  bool zero_init_residual = false;
};

void init_conv(const torch::nn::Conv2d& conv, const InitOptions& options);
void init_bn(const torch::nn::BatchNorm2d& bn, const InitOptions& options);
void init_linear(const torch::nn::Linear& linear);
void zero_bn_gamma(const torch::nn::BatchNorm2d& bn);

// Settings parsers shared by the registry: "fan_in"|"fan_out", "ones"|"uniform".
ConvInit parse_conv_init(const std::string& value);
BnInit parse_bn_init(const std::string& value);

// Convenience constructors with the conventions of the three papers (no conv bias).
torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t groups = 1,
                            bool bias = false);
torch::nn::BatchNorm2d make_bn(int64_t channels);

}  // namespace wrn::models
