#include "output_rule.h"

#include <filesystem>
#include <vector>

#include "wrn/core/error.h"

namespace wrn::cli {

namespace fs = std::filesystem;

void check_output_file(const std::string& option, const std::string& path, bool force) {
  std::error_code ec;
  WRN_CHECK(force || !fs::exists(path, ec), "{} {}: already exists (use --force to overwrite)", option, path);
}

bool check_run_dir(const std::string& dir, bool force) {
  std::error_code ec;
  const fs::path root(dir);
  const bool holds_run = fs::exists(root / "config.yaml", ec) || fs::exists(root / "metrics.jsonl", ec) ||
                         fs::exists(root / "checkpoints", ec);
  WRN_CHECK(!holds_run || force,
            "--out {}: already holds a run; use 'wrn resume {}' to continue it, --force to replace it, or another --out",
            dir, dir);
  return holds_run;
}

void remove_run(const std::string& dir) {
  std::error_code ec;
  const fs::path root(dir);
  fs::remove_all(root / "checkpoints", ec);
  WRN_CHECK_FILE(!ec, "--out {}: cannot delete {} ({})", dir, (root / "checkpoints").string(), ec.message());
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    const bool ours = name == "config.yaml" || name == "metrics.jsonl" || name == "report.md" ||
                      name == "curves.png" || name == "confusion.png" || name.rfind("events.out.tfevents.", 0) == 0;
    if (ours && entry.is_regular_file()) files.push_back(entry.path());
  }
  WRN_CHECK_FILE(!ec, "--out {}: cannot list the directory ({})", dir, ec.message());
  for (const auto& f : files) {
    fs::remove(f, ec);
    WRN_CHECK_FILE(!ec, "--out {}: cannot delete {} ({})", dir, f.string(), ec.message());
  }
}

}  // namespace wrn::cli
