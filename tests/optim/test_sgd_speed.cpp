// Optimizer step speed on WRN-16-4's parameters (2.7M values in 44 tensors): the flat
// buffer (fused pass, and whole-buffer tensor ops) against the per-parameter loop that
// torch::optim::SGD runs. Prints ms per step; requires the flat fused step to be faster.
#include <gtest/gtest.h>

#include <chrono>

#include "wrn/core/threads.h"
#include "wrn/models/registry.h"
#include "wrn/optim/sgd.h"

using namespace wrn::train;

namespace {

template <class F>
double ms_per_step(F&& step, int steps) {
  step();  // warm-up (first step creates the momentum buffers)
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / steps;
}

}  // namespace

TEST(SgdSpeed, FlatFusedStepBeatsThePerParameterLoopOnWrn16x4) {
  wrn::configure_threads(0);
  wrn::models::ModelSpec spec;
  spec.name = "wrn-16-4";
  auto naive_model = wrn::models::build_model(spec);
  auto flat_model = wrn::models::build_model(spec);
  std::vector<torch::Tensor> params;
  for (auto& p : naive_model->parameters()) {
    p.mutable_grad() = torch::randn_like(p);
    params.push_back(p);
  }
  SgdOptions o;  // Nesterov 0.9, wd 5e-4
  std::vector<torch::Tensor> buffers;
  bool has = false;
  const int steps = 30;
  const double naive = ms_per_step([&] { naive_sgd_step(params, buffers, has, o, 0.1); }, steps);

  FlatParameters flat(*flat_model);
  flat.grads().normal_();
  Sgd fused(flat, o, SgdKernel::Fused), tensor(flat, o, SgdKernel::Tensor);
  const double t_fused = ms_per_step([&] { fused.step(0.1); }, steps);
  const double t_tensor = ms_per_step([&] { tensor.step(0.1); }, steps);
  std::printf("WRN-16-4: %lld parameter values in %zu tensors, %d threads\n", (long long)flat.numel(), params.size(),
              at::get_num_threads());
  std::printf("  per-parameter loop   %.3f ms/step\n  flat, tensor ops     %.3f ms/step\n  flat, fused pass     %.3f ms/step\n",
              naive, t_tensor, t_fused);
  EXPECT_LT(t_fused, naive);
}
