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

// The trainable parameters of the model `spec` names, counted on a model built with every
// tensor operation dispatched to LibTorch's Meta backend: shapes only, no memory, no random
// initialization. `wrn models` builds 36 networks (~0.93e9 parameters): 10.2 s wall and 670 MB
// with real weights, 0.84 s and 200 MB this way, most of it loading LibTorch (2 cores,
// 2026-12-01). Falls back to a real build should an operation lack a Meta kernel. Throws what
// build_model throws.
// Only for a process that computes nothing afterwards (`wrn models`): with LibTorch 1.13 (seen), once
// the Meta key has been included, later real operations in the same process can still
// dispatch to Meta (seen: a BatchNorm forward fails with "Could not run
// 'aten::native_batch_norm' with arguments from the 'Meta' backend"). Hence not in the library.
int64_t count_parameters_without_weights(const models::ModelSpec& spec);

}  // namespace wrn::cli
