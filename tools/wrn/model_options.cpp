#include "model_options.h"

#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/nn/module.h>

#include "wrn/core/error.h"
#include "wrn/models/summary.h"

namespace wrn::cli {

void ModelArgs::add_options(CLI::App* cmd) {
  cmd->add_option("--classes", classes, "Number of classes (default: the model's)");
  cmd->add_option("--input", input, "Input shape CxHxW, e.g. 1x28x28 (default: the model's)");
  cmd->add_option("--set", settings, "Model setting key=value (e.g. dropout=0.3, block=3,1,3, shortcut=A)");
}

models::ModelSpec ModelArgs::spec() const {
  models::ModelSpec spec;
  spec.name = name;
  spec.classes = classes;
  if (!input.empty()) spec.input = models::InputShape::parse(input, "--input");
  for (const auto& s : settings) spec.add_setting(s);
  return spec;
}

int64_t count_parameters_without_weights(const models::ModelSpec& spec) {
  try {
    // The tensors are built and dropped inside this scope; none of them escapes.
    c10::impl::IncludeDispatchKeyGuard meta(c10::DispatchKey::Meta);
    return models::count_parameters(*models::build_model(spec));
  } catch (const wrn::Error&) {
    throw;  // a bad name or setting: the same error as a real build
  } catch (const std::exception&) {
    // An operation without a Meta kernel (another LibTorch version): count on real weights.
  }
  return models::count_parameters(*models::build_model(spec));
}

}  // namespace wrn::cli
