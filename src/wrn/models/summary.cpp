#include "wrn/models/summary.h"

#include <ATen/record_function.h>
#include <torch/nn/module.h>

#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>

#include "wrn/core/error.h"

namespace wrn::models {

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters(/*recurse=*/true)) {
    if (p.requires_grad()) n += p.numel();
  }
  return n;
}

namespace {

// Multiply-accumulates seen by the operator observer on this thread. The observer is a
// plain function pointer (RecordFunction's API), hence the thread-local counter.
thread_local int64_t observed_macs = 0;
// The largest conv/linear output seen (elements), for forward_bytes_estimate.
thread_local int64_t observed_max_output = 0;

// The MACs of one output element of a convolution or linear layer, read from its weight in the
// start callback: the boxed inputs are only valid there (the dispatcher destroys them before
// the op runs), the outputs only in the end callback.
struct MacsPerOutput : at::ObserverContext {
  explicit MacsPerOutput(int64_t n) : per_output(n) {}
  int64_t per_output;
};

std::unique_ptr<at::ObserverContext> on_op_start(const at::RecordFunction& fn) {
  const char* name = fn.name();
  if (std::strcmp(name, "aten::convolution") == 0) {
    // inputs: input, weight, bias, stride, padding, dilation, transposed, output_padding, groups
    const auto& weight = fn.inputs()[1].toTensor();
    return std::make_unique<MacsPerOutput>(weight.numel() / weight.size(0));  // (Cin / groups) * kh * kw
  }
  if (std::strcmp(name, "aten::linear") == 0) return std::make_unique<MacsPerOutput>(fn.inputs()[1].toTensor().size(1));
  return nullptr;
}

void on_op_end(const at::RecordFunction& fn, at::ObserverContext* context) {
  if (context == nullptr) return;
  // An operator that threw (e.g. its output could not be allocated) ends without outputs.
  if (fn.outputs().empty() || !fn.outputs()[0].isTensor()) return;
  const int64_t n = fn.outputs()[0].toTensor().numel();
  observed_macs += n * static_cast<MacsPerOutput*>(context)->per_output;
  observed_max_output = std::max(observed_max_output, n);
}

// Runs x through the model (eval mode, no autograd) with the observer on. Operator errors
// become wrn::Error naming `input`.
void observed_forward(ClassifierImpl& model, const torch::Tensor& x, std::vector<StageOutput>* stages,
                      const std::string& input) {
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  observed_macs = 0;
  observed_max_output = 0;
  auto handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback(&on_op_start, &on_op_end).needsInputs(true).needsOutputs(true));
  try {
    model.forward_stages(x, stages);
  } catch (const c10::Error& e) {
    at::removeCallback(handle);
    model.train(was_training);
    throw Error(fmt::format("input {}: the model's forward failed: {}", input, e.what_without_backtrace()));
  } catch (...) {
    at::removeCallback(handle);
    model.train(was_training);
    throw;
  }
  at::removeCallback(handle);
  model.train(was_training);
}

torch::Device device_of(ClassifierImpl& model) {
  return model.parameters().empty() ? torch::Device(torch::kCPU) : model.parameters()[0].device();
}

int64_t read_limit_file(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return -1;
  try {
    return std::stoll(text);
  } catch (...) {
    return -1;
  }
}

}  // namespace

int64_t forward_bytes_estimate(ClassifierImpl& model, const InputShape& input, int64_t batch) {
  // A crop of at most 64x64 shows every layer's channels and strides (the smallest models'
  // inputs are 28x28; ImageNet's stride 32 still leaves 2x2).
  constexpr int64_t kProbe = 64;
  const int64_t h = std::min(input.height, kProbe), w = std::min(input.width, kProbe);
  auto x = torch::zeros({1, input.channels, h, w}, torch::TensorOptions().device(device_of(model)));
  observed_forward(model, x, nullptr, input.str());
  const double per_pixel = static_cast<double>(std::max(observed_max_output, x.numel())) / static_cast<double>(h * w);
  const double pixels = static_cast<double>(input.height) * static_cast<double>(input.width);
  // Six of the largest activation: measured 5.2 for WRN-10-1 at 3x6000x6000 (12.1 GB peak),
  // where the stages kept for `info` and a block's input, branch and sum are alive together.
  const double bytes = (6 * per_pixel + input.channels) * pixels * static_cast<double>(batch) * sizeof(float);
  return bytes > 9e18 ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(bytes);
}

int64_t available_memory_bytes() {
  int64_t available = -1;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (meminfo >> key >> kb >> unit) {
    if (key == "MemAvailable:") {
      available = kb * 1024;
      break;
    }
  }
  auto lower = [&](int64_t limit) {
    if (limit > 0 && (available < 0 || limit < available)) available = limit;
  };
  rlimit as{};
  if (::getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
    // What is left of the address space: the limit less what is mapped now.
    std::ifstream status("/proc/self/status");
    std::string line;
    int64_t vm_kb = 0;
    while (std::getline(status, line))
      if (line.rfind("VmSize:", 0) == 0) vm_kb = std::atoll(line.c_str() + 7);
    lower(std::max<int64_t>(1, static_cast<int64_t>(as.rlim_cur) - vm_kb * 1024));
  }
  const int64_t cgroup_max = read_limit_file("/sys/fs/cgroup/memory.max");
  const int64_t cgroup_now = read_limit_file("/sys/fs/cgroup/memory.current");
  if (cgroup_max > 0) lower(std::max<int64_t>(1, cgroup_max - std::max<int64_t>(0, cgroup_now)));
  return available;
}

void check_forward_fits(ClassifierImpl& model, const InputShape& input, int64_t batch, const std::string& what) {
  if (!device_of(model).is_cpu()) return;  // a GPU's memory is its own (and CUDA says so in one line)
  const int64_t available = available_memory_bytes();
  if (available < 0) return;
  const int64_t needed = forward_bytes_estimate(model, input, batch);
  WRN_CHECK(needed <= available,
            "{} {}: a forward of {} image(s) of this size needs about {:.1f} GB, more than the {:.1f} GB of memory "
            "available; give a smaller input",
            what, input.str(), batch, needed / 1e9, available / 1e9);
}

ModelSummary summarize(ClassifierImpl& model, const InputShape& input) {
  ModelSummary summary;
  summary.params = count_parameters(model);
  check_forward_fits(model, input, 1, "input");
  auto x = torch::zeros({1, input.channels, input.height, input.width},
                        torch::TensorOptions().device(device_of(model)));
  std::vector<StageOutput> stages;
  observed_forward(model, x, &stages, input.str());
  summary.macs = observed_macs;
  for (const auto& s : stages) {
    auto sizes = s.value.sizes().vec();
    sizes.erase(sizes.begin());
    summary.stages.push_back({s.name, sizes});
  }
  return summary;
}

}  // namespace wrn::models
