#include "wrn/models/summary.h"

#include <ATen/record_function.h>
#include <torch/nn/module.h>

#include <cstring>

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
  observed_macs += fn.outputs()[0].toTensor().numel() * static_cast<MacsPerOutput*>(context)->per_output;
}

}  // namespace

ModelSummary summarize(ClassifierImpl& model, const InputShape& input) {
  ModelSummary summary;
  summary.params = count_parameters(model);

  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  auto device = model.parameters().empty() ? torch::Device(torch::kCPU) : model.parameters()[0].device();
  auto x = torch::zeros({1, input.channels, input.height, input.width}, torch::TensorOptions().device(device));

  std::vector<StageOutput> stages;
  observed_macs = 0;
  auto handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback(&on_op_start, &on_op_end).needsInputs(true).needsOutputs(true));
  try {
    model.forward_stages(x, &stages);
  } catch (...) {
    at::removeCallback(handle);
    model.train(was_training);
    throw;
  }
  at::removeCallback(handle);
  model.train(was_training);
  summary.macs = observed_macs;
  for (const auto& s : stages) {
    auto sizes = s.value.sizes().vec();
    sizes.erase(sizes.begin());
    summary.stages.push_back({s.name, sizes});
  }
  return summary;
}

}  // namespace wrn::models
