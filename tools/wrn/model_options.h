// The model-selection options shared by info, train, bench, ...: NAME, --classes,
// --input CxHxW, --set key=value.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "wrn/models/registry.h"

namespace wrn::cli {

struct ModelArgs {
  std::string name;
  int64_t classes = 0;
  std::string input;
  std::vector<std::string> settings;

  // Adds --classes, --input and --set (the name is added by the caller, as positional or option).
  void add_options(CLI::App* cmd);
  models::ModelSpec spec() const;
};

}  // namespace wrn::cli
