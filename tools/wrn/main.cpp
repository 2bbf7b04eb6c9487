// wrn: residual networks (ResNet, pre-activation ResNet, Wide ResNet) on LibTorch.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "about.h"
#include "command.h"
#include "wrn/core/error.h"
#include "wrn/core/memory.h"
#include "wrn/core/text.h"
#include "wrn/train/trainer.h"  // TrainingInterrupted

namespace wrn::cli {

std::vector<CommandEntry>& command_entries() {
  static std::vector<CommandEntry> entries;
  return entries;
}

std::vector<std::string>& program_arguments() {
  static std::vector<std::string> args;
  return args;
}

namespace {

// "wrn", "wrn train", "wrn bench infer".
std::string command_path(const CLI::App* app) {
  std::string path = app->get_name();
  for (const CLI::App* p = app->get_parent(); p != nullptr; p = p->get_parent()) path = p->get_name() + " " + path;
  return path;
}

// The innermost command the parse reached.
CLI::App* innermost_command(CLI::App* app) {
  for (auto* sub : app->get_subcommands()) return innermost_command(sub);
  return app;
}

// "unknown option '--epoch' for 'wrn train' (did you mean '--epochs'?)" for the first
// unexpected option, or "" when the extras are all positional.
std::string unknown_option_message(CLI::App& app) {
  CLI::App* cmd = innermost_command(&app);
  std::vector<std::string> names;
  for (const auto* opt : cmd->get_options()) {
    for (const auto& l : opt->get_lnames()) names.push_back("--" + l);
    for (const auto& s : opt->get_snames()) names.push_back("-" + s);
  }
  for (const auto& extra : app.remaining(true)) {
    if (extra.size() < 2 || extra[0] != '-') continue;
    const std::string word = extra.substr(0, extra.find('='));
    return fmt::format("unknown option '{}' for '{}'{} (see '{} --help')", word, command_path(cmd),
                       did_you_mean(word, names), command_path(cmd));
  }
  return "";
}

// An empty list's captured default (CLI11 writes "[]") says nothing: none is shown, here and in the
// sub-commands.
void drop_empty_defaults(CLI::App* app) {
  for (auto* opt : app->get_options()) {
    if (opt->get_default_str() == "[]") opt->default_str("");
  }
  for (auto* sub : app->get_subcommands({})) drop_empty_defaults(sub);
}

// An option given with an empty value ("--model ''") was taken as not given (its default):
// refused instead, on every option that takes a value and every positional argument.
void refuse_empty_values(CLI::App* app) {
  for (auto* opt : app->get_options()) {
    if (opt->get_type_size() == 0) continue;  // a flag
    opt->check(CLI::Validator(
        [](std::string& value) {
          return value.empty() ? std::string("an empty value; expected one (leave the option out for its default)")
                               : std::string();
        },
        "", "NonEmpty"));
  }
  for (auto* sub : app->get_subcommands({})) refuse_empty_values(sub);
}

// CLI11's "--threads: At Most 1 required but received 2" as "--threads: given 2 times; give it once".
std::string parse_error_text(const CLI::ParseError& e) {
  std::string msg = e.what();
  std::replace(msg.begin(), msg.end(), '\n', ' ');
  const std::string at_most = ": At Most 1 required but received ";
  const auto at = msg.find(at_most);
  if (at != std::string::npos)
    return fmt::format("{}: given {} times; give it once", msg.substr(0, at), msg.substr(at + at_most.size()));
  return msg;
}

// A message line of at most 1,000 characters (a value echoed back can be megabytes).
std::string bounded(const std::string& line) {
  constexpr size_t kMax = 1000;
  if (line.size() <= kMax) return line;
  return fmt::format("{}... ({} more characters)", line.substr(0, kMax), line.size() - kMax);
}

// Output written to a full disk, /dev/full or a closed pipe is lost: an error, not exit 0.
int check_stdout(int status) {
  std::cout.flush();
  const bool failed = !std::cout || std::fflush(stdout) != 0 || std::ferror(stdout);
  if (!failed) return status;
  const int err = errno;
  std::fprintf(stderr, "wrn: error: standard output: cannot write (%s); the output was lost\n",
               err != 0 ? std::strerror(err) : "write error");
  return status != 0 ? status : 1;
}

}  // namespace

}  // namespace wrn::cli

int main(int argc, char** argv) {
  // A closed standard output (">&-") would hand fd 1 to the next file opened (a checkpoint),
  // and what is printed would go into it: refused before anything is opened. A closed stderr
  // gets /dev/null for the same reason.
  if (::fcntl(2, F_GETFD) == -1 && errno == EBADF) {
    const int fd = ::open("/dev/null", O_WRONLY);
    if (fd >= 0 && fd != 2) ::dup2(fd, 2), ::close(fd);
  }
  if (::fcntl(1, F_GETFD) == -1 && errno == EBADF) {
    std::fprintf(stderr, "wrn: error: standard output is closed; give wrn somewhere to write (e.g. >/dev/null)\n");
    return 1;
  }
  wrn::tune_allocator();  // before LibTorch allocates anything (see core/memory.h)
  for (int i = 1; i < argc; ++i) wrn::cli::program_arguments().emplace_back(argv[i]);
  CLI::App app{"wrn: ResNet, pre-activation ResNet and Wide ResNet on LibTorch", "wrn"};
  app.require_subcommand(1);
  app.set_version_flag("--version", wrn::cli::version_text,
                       "Print the version, the LibTorch build, CUDA/cuDNN, CPU features, BLAS and threads");
  // Every option's default shows in --help ("--top INT:POSITIVE=5"); empty strings show nothing.
  app.option_defaults()->always_capture_default();
  app.footer(
      "Examples:\n"
      "  wrn models                                   # the model zoo\n"
      "  wrn train --preset demo --out runs/demo      # WRN-10-1 on Fashion-MNIST, a few minutes on CPU\n"
      "  wrn predict --checkpoint runs/demo/checkpoints/best.ckpt shoe.png\n"
      "Run 'wrn COMMAND --help' for a command's options and an example.");
  auto entries = wrn::cli::command_entries();
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.order < b.order; });
  for (const auto& entry : entries) entry.add(app);
  wrn::cli::drop_empty_defaults(&app);
  wrn::cli::refuse_empty_values(&app);
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
  // An unknown option before any command: CLI11 would only say "A subcommand is required".
  if (argc > 1 && argv[1][0] == '-') {
    std::vector<std::string> names;
    for (const auto* opt : app.get_options()) {
      for (const auto& l : opt->get_lnames()) names.push_back("--" + l);
      for (const auto& s : opt->get_snames()) names.push_back("-" + s);
    }
    const std::string word = std::string(argv[1]).substr(0, std::string(argv[1]).find('='));
    if (std::find(names.begin(), names.end(), word) == names.end()) {
      std::fprintf(stderr, "wrn: error: unknown option '%s' for 'wrn'%s (see 'wrn --help')\n", word.c_str(),
                   wrn::did_you_mean(word, names).c_str());
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
  } catch (const CLI::ExtrasError& e) {
    std::string msg = wrn::cli::unknown_option_message(app);
    if (msg.empty()) {  // an extra positional argument
      msg = e.what();
      std::replace(msg.begin(), msg.end(), '\n', ' ');
      msg += fmt::format(" (see '{} --help')", wrn::cli::command_path(wrn::cli::innermost_command(&app)));
    }
    std::fprintf(stderr, "wrn: error: %s\n", msg.c_str());
    return 2;
  } catch (const CLI::ParseError& e) {
    // One line: what was wrong, and where to look.
    std::fprintf(stderr, "wrn: error: %s (see 'wrn --help')\n",
                 wrn::cli::bounded(wrn::cli::parse_error_text(e)).c_str());
    return 2;
  } catch (const wrn::cli::ExitStatus& e) {
    return wrn::cli::check_stdout(e.code);
  } catch (const wrn::train::TrainingInterrupted& e) {
    std::fprintf(stderr, "wrn: %s\n", e.what());
    return 128 + e.signal();  // what a shell reports for a process ended by that signal
  } catch (const wrn::Error& e) {
    // Our messages: one line, optionally followed by indented detail lines (e.g. every
    // mismatch of a state dict), of which the first 20 are shown.
    const auto lines = wrn::split(e.what(), '\n');
    std::fprintf(stderr, "wrn: error: %s\n", lines.empty() ? "" : wrn::cli::bounded(lines[0]).c_str());
    const size_t shown = std::min<size_t>(lines.size(), 21);
    for (size_t i = 1; i < shown; ++i) std::fprintf(stderr, "%s\n", wrn::cli::bounded(lines[i]).c_str());
    if (lines.size() > shown) std::fprintf(stderr, "  ... and %zu more\n", lines.size() - shown);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wrn: error: %s\n", wrn::cli::bounded(wrn::one_line_message(e)).c_str());
    return 1;
  }
  return wrn::cli::check_stdout(0);
}
