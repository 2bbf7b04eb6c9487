#include "wrn/setup/layout_probe.h"

#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/nn/functional/loss.h>

#include <fmt/format.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <vector>

#include "wrn/core/error.h"
#include "wrn/core/memory.h"
#include "wrn/core/timing.h"
#include "wrn/models/precision.h"

namespace wrn::train {

namespace {

// The default generator's state, put back when the scope ends.
class GeneratorRestore {
 public:
  explicit GeneratorRestore(c10::Device device) : gen_(at::globalContext().defaultGenerator(device)) {
    std::lock_guard<std::mutex> lock(gen_.mutex());
    state_ = gen_.get_state();
  }
  ~GeneratorRestore() {
    std::lock_guard<std::mutex> lock(gen_.mutex());
    gen_.set_state(state_);
  }
  GeneratorRestore(const GeneratorRestore&) = delete;
  GeneratorRestore& operator=(const GeneratorRestore&) = delete;

 private:
  at::Generator gen_;
  at::Tensor state_;
};

}  // namespace

double training_step_seconds(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& labels) {
  model->zero_grad();  // to none
  const auto sync = [&] {
    if (x.is_cuda()) torch::cuda::synchronize(x.device().index());
  };
  sync();
  const auto start = std::chrono::steady_clock::now();
  torch::nn::functional::cross_entropy(model->forward(x).to(torch::kFloat), labels).backward();
  sync();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

LayoutProbe probe_layout(const models::ModelSpec& spec, int64_t batch, c10::ScalarType dtype, c10::Device device,
                         int iters) {
  WRN_CHECK(batch >= 2 && iters >= 1, "probe_layout: batch {} (BatchNorm needs 2) and iters {} (>= 1)", batch, iters);
  GeneratorRestore cpu_generator{c10::Device(c10::kCPU)};
  std::optional<GeneratorRestore> device_generator;
  if (!device.is_cpu()) device_generator.emplace(device);

  auto build = [&](bool channels_last) {
    auto m = models::build_model(spec);
    m->to(device);
    m->train();
    models::cast_for_inference(*m, dtype);  // convolutions in dtype, BatchNorm in float32
    if (channels_last) parameters_to_channels_last(*m);
    return m;
  };
  auto nchw = build(false), cl = build(true);
  const auto options = torch::TensorOptions().device(device);
  const auto x = torch::randn({batch, spec.input.channels, spec.input.height, spec.input.width}, options).to(dtype);
  const auto x_cl = x.contiguous(at::MemoryFormat::ChannelsLast);
  const auto labels = torch::randint(0, spec.classes, {batch}, options.dtype(torch::kLong));
  training_step_seconds(nchw, x, labels);
  training_step_seconds(cl, x_cl, labels);
  std::vector<double> a, b;
  for (int i = 0; i < iters; ++i) {
    a.push_back(training_step_seconds(nchw, x, labels));
    b.push_back(training_step_seconds(cl, x_cl, labels));
  }
  LayoutProbe p;
  p.nchw_seconds = median(a);
  p.channels_last_seconds = median(b);
  p.channels_last = p.channels_last_seconds < 0.97 * p.nchw_seconds;
  p.reason = p.channels_last ? fmt::format("auto: a training step took {:.0f} ms, {:.0f} ms in NCHW",
                                           1e3 * p.channels_last_seconds, 1e3 * p.nchw_seconds)
                             : fmt::format("auto: a training step took {:.0f} ms, {:.0f} ms in channels_last",
                                           1e3 * p.nchw_seconds, 1e3 * p.channels_last_seconds);
  return p;
}

}  // namespace wrn::train
