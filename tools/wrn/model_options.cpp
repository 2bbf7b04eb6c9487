#include "model_options.h"

#include <torch/nn/module.h>

#include "wrn/core/error.h"

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

}  // namespace wrn::cli
