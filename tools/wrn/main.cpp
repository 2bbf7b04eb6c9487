// wrn: residual networks (ResNet, pre-activation ResNet, Wide ResNet) on LibTorch.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "command.h"
#include "wrn/core/error.h"
#include "wrn/core/memory.h"
#include "wrn/core/text.h"

namespace wrn::cli {

std::vector<CommandEntry>& command_entries() {
  static std::vector<CommandEntry> entries;
  return entries;
}

}  // namespace wrn::cli

int main(int argc, char** argv) {
  wrn::tune_allocator();  // before LibTorch allocates anything (see core/memory.h)
  CLI::App app{"wrn: ResNet, pre-activation ResNet and Wide ResNet on LibTorch", "wrn"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "wrn 0.1.0");
  auto entries = wrn::cli::command_entries();
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.order < b.order; });
  for (const auto& entry : entries) entry.add(app);
  // An unknown command word: CLI11 would only say "A subcommand is required".
  if (argc > 1 && argv[1][0] != '-') {
    std::vector<std::string> names;
    for (const auto* sub : app.get_subcommands({})) names.push_back(sub->get_name());
    if (std::find(names.begin(), names.end(), argv[1]) == names.end()) {
      std::fprintf(stderr, "wrn: error: unknown command '%s'%s; commands: %s (see 'wrn --help')\n", argv[1],
                   wrn::did_you_mean(argv[1], names).c_str(), wrn::join(names, ", ").c_str());
      return 2;
    }
  }
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
  } catch (const wrn::Error& e) {
    // Our messages: one line, optionally followed by indented detail lines (e.g. every
    // mismatch of a state dict), of which the first 20 are shown.
    const auto lines = wrn::split(e.what(), '\n');
    std::fprintf(stderr, "wrn: error: %s\n", lines.empty() ? "" : lines[0].c_str());
    const size_t shown = std::min<size_t>(lines.size(), 21);
    for (size_t i = 1; i < shown; ++i) std::fprintf(stderr, "%s\n", lines[i].c_str());
    if (lines.size() > shown) std::fprintf(stderr, "  ... and %zu more\n", lines.size() - shown);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wrn: error: %s\n", wrn::one_line_message(e).c_str());
    return 1;
  }
  return 0;
}
