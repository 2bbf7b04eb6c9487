// wrn info NAME: parameters, multiply-accumulates per image and each stage's output shape.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "command.h"
#include "model_options.h"
#include "wrn/core/text.h"
#include "wrn/core/threads.h"
#include "wrn/models/summary.h"

namespace {

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::vector<std::string> parts;
  for (auto d : shape) parts.push_back(std::to_string(d));
  return wrn::join(parts, "x");
}

void add_info_command(CLI::App& app) {
  struct Args {
    wrn::cli::ModelArgs model;
    bool json = false;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("info", "Parameter count, multiply-accumulates and stage shapes of a model");
  cmd->add_option("model", args->model.name, "Model name (see 'wrn models'; any wrn-D-K)")->required();
  args->model.add_options(cmd);
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->add_option("--threads", args->threads, "Intra-op threads (0: all cores)");
  cmd->callback([args] {
    wrn::configure_threads(args->threads);
    auto spec = wrn::models::resolve_spec(args->model.spec());
    auto model = wrn::models::build_model(spec);
    auto summary = wrn::models::summarize(*model, spec.input);
    if (args->json) {
      nlohmann::json j;
      j["model"] = spec.name;
      j["family"] = model->family();
      j["classes"] = spec.classes;
      j["input"] = {spec.input.channels, spec.input.height, spec.input.width};
      j["params"] = summary.params;
      j["macs"] = summary.macs;
      j["stages"] = nlohmann::json::array();
      for (const auto& s : summary.stages) j["stages"].push_back({{"name", s.name}, {"shape", s.shape}});
      fmt::print("{}\n", j.dump());
      return;
    }
    fmt::print("model    {} ({})\n", spec.name, model->family());
    fmt::print("input    {}\n", spec.input.str());
    fmt::print("classes  {}\n", spec.classes);
    fmt::print("params   {} ({:.2f}M)\n", with_commas(summary.params), summary.params / 1e6);
    fmt::print("MACs     {} ({:.3f} G per image, forward)\n", with_commas(summary.macs), summary.macs / 1e9);
    fmt::print("stages:\n");
    for (const auto& s : summary.stages) fmt::print("  {:<8} {}\n", s.name, shape_text(s.shape));
  });
}

}  // namespace

WRN_REGISTER_COMMAND(20, add_info_command);
