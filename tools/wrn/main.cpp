// wrn: residual networks (ResNet, pre-activation ResNet, Wide ResNet) on LibTorch.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "command.h"
#include "wrn/core/error.h"

namespace wrn::cli {

std::vector<CommandEntry>& command_entries() {
  static std::vector<CommandEntry> entries;
  return entries;
}

}  // namespace wrn::cli

int main(int argc, char** argv) {
  CLI::App app{"wrn: ResNet, pre-activation ResNet and Wide ResNet on LibTorch", "wrn"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "wrn 0.1.0");
  auto entries = wrn::cli::command_entries();
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.order < b.order; });
  for (const auto& entry : entries) entry.add(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line: what was wrong, and where to look.
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    std::fprintf(stderr, "wrn: error: %s (see 'wrn --help')\n", msg.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wrn: error: %s\n", wrn::one_line_message(e).c_str());
    return 1;
  }
  return 0;
}
