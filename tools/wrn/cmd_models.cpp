// wrn models: the model zoo, one line per named model.
#include <fmt/format.h>

#include "command.h"
#include "wrn/models/registry.h"
#include "wrn/models/summary.h"

namespace {

void add_models_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("models", "List every named model with its family, default input and parameter count");
  cmd->callback([] {
    fmt::print("{:<20} {:<14} {:<12} {:>8} {:>13}  {}\n", "model", "family", "input", "classes", "params",
               "description");
    for (const auto& info : wrn::models::list_models()) {
      wrn::models::ModelSpec spec;
      spec.name = info.name;
      torch::NoGradGuard no_grad;
      auto model = wrn::models::build_model(spec);
      fmt::print("{:<20} {:<14} {:<12} {:>8} {:>13}  {}\n", info.name, info.family, info.default_input.str(),
                 info.default_classes, wrn::models::count_parameters(*model), info.description);
    }
    fmt::print("Any Wide ResNet is available as wrn-D-K (depth D = 6n+4, widening factor K).\n");
  });
}

}  // namespace

WRN_REGISTER_COMMAND(10, add_models_command);
