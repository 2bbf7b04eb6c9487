// wrn download NAME [--dir D] [--mirror URL]: fetch a data set from its publisher, verify
// the MD5 sums, unpack archives. Resumable (partial files continue with a range request)
// and idempotent (a second run checks the files and fetches nothing).
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "command.h"
#include "wrn/core/text.h"
#include "wrn/data/download.h"

namespace {

std::string mib(int64_t bytes) { return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024.0)); }

// Progress on stderr: one rewritten line on a terminal (at most 5 updates a second),
// otherwise a line every 10% so that logs stay short.
class ProgressPrinter {
 public:
  ProgressPrinter() : tty_(::isatty(fileno(stderr)) != 0) {}

  void update(const wrn::data::DownloadProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    const bool done = p.total > 0 && p.received >= p.total;
    if (p.filename != file_) {
      file_ = p.filename;
      last_decile_ = -1;
      last_ = {};
    }
    std::string text = p.total > 0 ? fmt::format("  {}: {} / {} ({:.0f}%)", p.filename, mib(p.received),
                                                 mib(p.total), 100.0 * p.received / p.total)
                                   : fmt::format("  {}: {}", p.filename, mib(p.received));
    if (tty_) {
      if (!done && now - last_ < std::chrono::milliseconds(200)) return;
      last_ = now;
      std::fprintf(stderr, "\r%-78s%s", text.c_str(), done ? "\n" : "");
      open_line_ = !done;
    } else {
      const int decile = p.total > 0 ? static_cast<int>(10 * p.received / p.total) : -1;
      if (decile <= last_decile_ && !(p.total <= 0 && now - last_ > std::chrono::seconds(10))) return;
      last_decile_ = decile;
      last_ = now;
      std::fprintf(stderr, "%s\n", text.c_str());
    }
    std::fflush(stderr);
  }

  // Ends a half-written progress line before another message is printed.
  void break_line() {
    if (open_line_) std::fprintf(stderr, "\n");
    open_line_ = false;
  }

 private:
  bool tty_;
  bool open_line_ = false;
  std::string file_;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point last_{};
};

void add_download_command(CLI::App& app) {
  struct Args {
    std::string name;
    std::string dir;
    std::string mirror;
    int retries = 3;
    bool quiet = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "download", "Fetch a data set from its official source, verify its MD5 sums and unpack it (resumable)");
  cmd->footer("Example:\n  wrn download cifar10            # into ./data/cifar10, then: wrn train --preset wrn-cifar10 --out runs/c10");
  cmd->add_option("dataset", args->name, wrn::join(wrn::data::downloadable_datasets(), " | "))->required();
  cmd->add_option("--dir", args->dir, "Target directory (default: ./data/<dataset>)");
  cmd->add_option("--mirror", args->mirror,
                  "Base URL serving the same file names instead of the official addresses "
                  "(http(s):// or file://; default: $WRN_DOWNLOAD_MIRROR)");
  cmd->add_option("--retries", args->retries, "Further attempts after a lost connection or a server error")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--quiet,-q", args->quiet, "Print only errors and the final summary");
  cmd->callback([args] {
    const auto manifest = wrn::data::dataset_manifest(args->name);  // unknown names fail here
    const std::string dir = args->dir.empty() ? "data/" + manifest.name : args->dir;
    auto progress = std::make_shared<ProgressPrinter>();
    wrn::data::DownloadOptions options;
    options.mirror = args->mirror;
    options.retries = args->retries;
    if (!args->quiet) {
      options.on_message = [progress](const std::string& line) {
        progress->break_line();
        fmt::print("{}\n", line);
        std::fflush(stdout);
      };
      options.on_progress = [progress](const wrn::data::DownloadProgress& p) { progress->update(p); };
    }
    const auto report = wrn::data::download_files(manifest.files, dir, options);
    progress->break_line();
    int fetched = 0;
    int unpacked = 0;
    for (const auto& f : report.files) {
      if (f.action != wrn::data::FileAction::kAlreadyPresent) ++fetched;
      if (f.extracted) ++unpacked;
    }
    if (fetched == 0 && unpacked == 0) {
      fmt::print("{}: all {} file{} already present and verified in {}\n", manifest.name, report.files.size(),
                 report.files.size() == 1 ? "" : "s", dir);
    } else {
      fmt::print("{}: {} file{} fetched and verified{} in {}\n", manifest.name, fetched, fetched == 1 ? "" : "s",
                 unpacked > 0 ? fmt::format(", {} unpacked", unpacked) : "", dir);
    }
  });
}

}  // namespace

WRN_REGISTER_COMMAND(90, add_download_command);
