// wrn models: the model zoo, one line per named model (or one JSON array with --json).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "command.h"
#include "model_options.h"
#include "wrn/models/registry.h"

namespace {

void add_models_command(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("models", "List every named model with its family, default input and parameter count");
  cmd->footer("Example:\n  wrn models --json");
  cmd->add_flag("--json", *json, "Print one JSON array of {name, family, input, classes, params, description}");
  cmd->callback([json] {
    const auto models = wrn::models::list_models();
    std::vector<int64_t> params;
    for (const auto& info : models) {
      wrn::models::ModelSpec spec;
      spec.name = info.name;
      params.push_back(wrn::cli::count_parameters_without_weights(spec));
    }
    if (*json) {
      nlohmann::json out = nlohmann::json::array();
      for (size_t i = 0; i < models.size(); ++i) {
        const auto& info = models[i];
        out.push_back({{"name", info.name},
                       {"family", info.family},
                       {"input", {info.default_input.channels, info.default_input.height, info.default_input.width}},
                       {"classes", info.default_classes},
                       {"params", params[i]},
                       {"description", info.description}});
      }
      fmt::print("{}\n", out.dump());
      return;
    }
    fmt::print("{:<20} {:<14} {:<12} {:>8} {:>13}  {}\n", "model", "family", "input", "classes", "params",
               "description");
    for (size_t i = 0; i < models.size(); ++i) {
      const auto& info = models[i];
      fmt::print("{:<20} {:<14} {:<12} {:>8} {:>13}  {}\n", info.name, info.family, info.default_input.str(),
                 info.default_classes, params[i], info.description);
    }
    fmt::print("Any Wide ResNet is available as wrn-D-K (depth D = 6n+4, widening factor K).\n");
  });
}

}  // namespace

WRN_REGISTER_COMMAND(10, add_models_command);
