// How the tool's commands plug in: each cmd_<name>.cpp defines a function that adds its
// sub-command to the CLI11 app, and registers it with a static WRN_REGISTER_COMMAND.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace wrn::cli {

struct CommandEntry {
  int order;                              // position in `wrn --help`
  std::function<void(CLI::App&)> add;     // adds the sub-command and its callback
};

std::vector<CommandEntry>& command_entries();

struct CommandRegistrar {
  CommandRegistrar(int order, std::function<void(CLI::App&)> add) {
    command_entries().push_back({order, std::move(add)});
  }
};

// Thrown by a command that ends the tool with this exit status (the launcher: its workers').
struct ExitStatus {
  int code;
};

// The tool's arguments after the program name, as main() received them.
std::vector<std::string>& program_arguments();

#define WRN_REGISTER_COMMAND(order, fn) \
  static ::wrn::cli::CommandRegistrar wrn_command_registrar_##fn(order, fn)

}  // namespace wrn::cli
