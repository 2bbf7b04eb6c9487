#include "precision_option.h"

#include <fmt/format.h>

#include <cstdio>

namespace wrn::cli {

void add_precision_option(CLI::App* cmd, std::string& text) {
  text = "auto";
  cmd->add_option("--precision", text, kPrecisionHelp)->capture_default_str();
}

ResolvedPrecision resolve_precision_option(const std::string& text, const c10::Device& device, bool quiet) {
  auto r = resolve_precision(parse_precision(text, "--precision"), device, "--precision");
  if (!quiet) {
    fmt::print(stderr, "precision {} ({})\n", precision_name(r.value), r.reason);
    if (!r.warning.empty()) fmt::print(stderr, "wrn: warning: {}\n", r.warning);
  }
  return r;
}

}  // namespace wrn::cli
