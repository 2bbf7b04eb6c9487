// Per-channel normalization and ZCA whitening.
#include <ATen/ops/linalg_eigh.h>  // the C++ frontend's torch/linalg.h is gone in 2.x
#include <torch/types.h>

#include <cmath>

#include "wrn/core/error.h"
#include "wrn/data/augment.h"

namespace wrn::data {

namespace {

constexpr int64_t kChunk = 4096;  // rows per chunk when scanning the train set

torch::Tensor as_tensor(const std::vector<double>& v) {
  return torch::tensor(v, torch::kFloat64);
}

}  // namespace

Normalizer Normalizer::fit(const Dataset& train, const NormalizeOptions& options) {
  WRN_CHECK(train.images.defined() && train.images.dim() == 4 && train.size() > 1,
            "normalizer: needs a [N, C, H, W] train set with N > 1");
  const auto& images = train.images;
  const int64_t n = images.size(0), c = images.size(1);
  WRN_CHECK(options.mean.empty() || int64_t(options.mean.size()) == c,
            "data.normalize.mean: {} values for images of {} channels: give one per channel, or [] to compute "
            "them from the training set", options.mean.size(), c);
  WRN_CHECK(options.std.empty() || int64_t(options.std.size()) == c,
            "data.normalize.std: {} values for images of {} channels: give one per channel, or [] to compute "
            "them from the training set", options.std.size(), c);
  WRN_CHECK(options.zca_epsilon >= 0, "normalizer: zca_epsilon must be >= 0, got {}",
            options.zca_epsilon);

  Normalizer out;
  out.mean_ = options.mean;
  out.std_ = options.std;
  if (out.mean_.empty() || out.std_.empty()) {
    // Exact per-channel statistics in float64, a chunk at a time (no N x D float copy).
    auto sum = torch::zeros({c}, torch::kFloat64), sq = torch::zeros({c}, torch::kFloat64);
    for (int64_t i = 0; i < n; i += kChunk) {
      auto x = images.narrow(0, i, std::min(kChunk, n - i)).to(torch::kFloat64);
      sum += x.sum({0, 2, 3}).cpu();
      sq += x.square().sum({0, 2, 3}).cpu();
    }
    const double count = double(n) * images.size(2) * images.size(3);
    auto mean = sum / count;
    auto std = (sq / count - mean.square()).clamp_min(0).sqrt();
    if (out.mean_.empty()) out.mean_.assign(mean.data_ptr<double>(), mean.data_ptr<double>() + c);
    if (out.std_.empty()) out.std_.assign(std.data_ptr<double>(), std.data_ptr<double>() + c);
  }
  for (double s : out.std_)
    WRN_CHECK(s > 0 && std::isfinite(s), "normalizer: std must be positive, got {}", s);
  out.mean_t_ = as_tensor(out.mean_).to(torch::kFloat32).view({1, c, 1, 1});
  out.inv_std_t_ = (1.0 / as_tensor(out.std_)).to(torch::kFloat32).view({1, c, 1, 1});

  if (options.zca) {
    const int64_t d = c * images.size(2) * images.size(3);
    // Covariance of the normalized, flattened train set: float32 products per chunk,
    // accumulated in float64.
    auto gram = torch::zeros({d, d}, torch::kFloat64);
    auto sum = torch::zeros({d}, torch::kFloat64);
    for (int64_t i = 0; i < n; i += kChunk) {
      auto x = out(images.narrow(0, i, std::min(kChunk, n - i)).cpu()).view({-1, d});
      gram += torch::matmul(x.t(), x).to(torch::kFloat64);
      sum += x.sum(0).to(torch::kFloat64);
    }
    auto mu = sum / double(n);
    auto cov = (gram - double(n) * torch::outer(mu, mu)) / double(n - 1);
    auto [eigenvalues, eigenvectors] = at::linalg_eigh(cov, "L");
    auto scale = (eigenvalues.clamp_min(0) + options.zca_epsilon).rsqrt();
    WRN_CHECK(torch::isfinite(scale).all().item<bool>(),
              "normalizer: ZCA is singular; use zca_epsilon > 0");
    out.zca_ = torch::matmul(eigenvectors * scale.unsqueeze(0), eigenvectors.t()).to(torch::kFloat32);
    out.zca_mean_ = mu.to(torch::kFloat32);
  }
  out.to(images.device());
  return out;
}

void Normalizer::to(const torch::Device& device) {
  if (mean_t_.defined()) mean_t_ = mean_t_.to(device);
  if (inv_std_t_.defined()) inv_std_t_ = inv_std_t_.to(device);
  if (zca_.defined()) zca_ = zca_.to(device);
  if (zca_mean_.defined()) zca_mean_ = zca_mean_.to(device);
}

torch::Tensor Normalizer::operator()(const torch::Tensor& images) const {
  WRN_CHECK(fitted(), "normalizer: used before fit() or load_state()");
  WRN_CHECK(images.dim() == 4 && images.size(1) == mean_t_.size(1),
            "normalizer: expected a [B, {}, H, W] batch, got {} dims", mean_t_.size(1), images.dim());
  const auto device = images.device();
  auto x = (images.to(torch::kFloat32) - mean_t_.to(device)) * inv_std_t_.to(device);
  if (!zca_.defined()) return x;
  const int64_t d = zca_.size(0);
  WRN_CHECK(x[0].numel() == d, "normalizer: ZCA was fitted on {} features, the batch has {}", d,
            x[0].numel());
  // W is symmetric: (x - mu) W == (x - mu) W^T.
  return torch::matmul(x.view({x.size(0), d}) - zca_mean_.to(device), zca_.to(device)).view(x.sizes());
}

std::vector<torch::Tensor> Normalizer::state() const {
  std::vector<torch::Tensor> s = {as_tensor(mean_), as_tensor(std_)};
  if (zca_.defined()) {
    s.push_back(zca_.cpu());
    s.push_back(zca_mean_.cpu());
  }
  return s;
}

void Normalizer::load_state(const std::vector<torch::Tensor>& state) {
  WRN_CHECK_FILE(state.size() == 2 || state.size() == 4,
                 "normalizer state: expected 2 tensors (mean, std) or 4 (with ZCA), got {}",
                 state.size());
  WRN_CHECK_FILE(state[0].dim() == 1 && state[0].numel() > 0 && state[0].sizes() == state[1].sizes(),
                 "normalizer state: mean and std must be equal-length vectors");
  auto mean = state[0].to(torch::kCPU, torch::kFloat64).contiguous();
  auto std = state[1].to(torch::kCPU, torch::kFloat64).contiguous();
  const int64_t c = mean.numel();
  WRN_CHECK_FILE((std > 0).all().item<bool>() && torch::isfinite(std).all().item<bool>() &&
                     torch::isfinite(mean).all().item<bool>(),
                 "normalizer state: mean must be finite and std finite and positive");
  Normalizer loaded;
  loaded.mean_.assign(mean.data_ptr<double>(), mean.data_ptr<double>() + c);
  loaded.std_.assign(std.data_ptr<double>(), std.data_ptr<double>() + c);
  loaded.mean_t_ = mean.to(torch::kFloat32).view({1, c, 1, 1});
  loaded.inv_std_t_ = (1.0 / std).to(torch::kFloat32).view({1, c, 1, 1});
  if (state.size() == 4) {
    const int64_t d = state[2].dim() == 2 ? state[2].size(0) : -1;
    WRN_CHECK_FILE(d > 0 && d % c == 0 && state[2].size(1) == d && state[3].dim() == 1 &&
                       state[3].numel() == d,
                   "normalizer state: ZCA must be a square [D, D] matrix and a [D] mean, D a "
                   "multiple of {} channels",
                   c);
    WRN_CHECK_FILE(torch::isfinite(state[2]).all().item<bool>() && torch::isfinite(state[3]).all().item<bool>(),
                   "normalizer state: the ZCA matrix and mean must be finite");
    loaded.zca_ = state[2].to(torch::kCPU, torch::kFloat32).contiguous();
    loaded.zca_mean_ = state[3].to(torch::kCPU, torch::kFloat32).contiguous();
  }
  *this = std::move(loaded);
}

}  // namespace wrn::data
