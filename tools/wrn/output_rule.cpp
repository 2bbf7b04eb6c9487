#include "output_rule.h"

#include <climits>
#include <filesystem>
#include <vector>

#include "wrn/config/config.h"
#include "wrn/core/error.h"
#include "wrn/train/trainer.h"

namespace wrn::cli {

namespace fs = std::filesystem;

namespace {

std::string kind_of(fs::file_type t) {
  switch (t) {
    case fs::file_type::directory: return "a directory";
    case fs::file_type::symlink: return "a symbolic link";
    case fs::file_type::block: return "a block device";
    case fs::file_type::character: return "a character device";
    case fs::file_type::fifo: return "a FIFO";
    case fs::file_type::socket: return "a socket";
    case fs::file_type::regular: return "a regular file";
    default: return "an unusual file";
  }
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A run directory's file that training writes (top level).
bool is_run_file(const std::string& name) {
  return name == "config.yaml" || name == "metrics.jsonl" || name == "steps.jsonl" || name == "report.md" ||
         name == "curves.png" || name == "confusion.png" || starts_with(name, "events.out.tfevents.");
}

// A file of checkpoints/ that training writes: NAME.ckpt, NAME.ckpt.unreadable (set aside by
// resume) and .NAME.ckpt.tmpNNN (write_file_atomically's temporaries).
bool is_checkpoint_file(const std::string& name) {
  return ends_with(name, ".ckpt") || ends_with(name, ".ckpt.unreadable") ||
         (starts_with(name, ".") && name.find(".ckpt.tmp") != std::string::npos);
}

}  // namespace

void check_output_file(const std::string& option, const std::string& path, bool force) {
  std::error_code ec;
  const auto status = fs::symlink_status(path, ec);
  if (!fs::exists(status)) return;
  WRN_CHECK(fs::is_regular_file(status),
            "{} {}: is {}, not a regular file; wrn replaces only regular files (give another path)", option, path,
            kind_of(status.type()));
  WRN_CHECK(force, "{} {}: already exists (use --force to overwrite)", option, path);
}

bool check_run_dir(const std::string& dir, bool force) {
  std::error_code ec;
  const fs::path root(dir);
  // The longest path a run writes: DIR/checkpoints/.previous.ckpt.tmpNNNNNN (and 4 KiB is the
  // kernel's limit). Refused up front: a 4,070-character --out left config.yaml behind.
  const size_t longest =
      fs::absolute(root, ec).string().size() + std::string("/checkpoints/.previous.ckpt.tmp999999").size();
  WRN_CHECK(longest < PATH_MAX, "--out {}...: the path is {} characters long; the run's files would not fit in "
            "the system's {}-character limit", dir.substr(0, 60), dir.size(), PATH_MAX);
  const auto status = fs::symlink_status(root, ec);
  if (fs::exists(status)) {
    const bool is_dir = fs::is_directory(status) || (fs::is_symlink(status) && fs::is_directory(root, ec));
    WRN_CHECK(is_dir, "--out {}: is {}, expected a run directory", dir, kind_of(status.type()));
  }
  const bool holds_run = fs::exists(root / "config.yaml", ec) || fs::exists(root / "metrics.jsonl", ec) ||
                         fs::exists(root / "checkpoints", ec);
  WRN_CHECK(!holds_run || force,
            "--out {}: already holds a run; use 'wrn resume {}' to continue it, --force to replace it, or another --out",
            dir, dir);
  if (holds_run) {
    // --force deletes only a run wrn wrote: its config.yaml must read as a wrn configuration.
    const auto config = (root / "config.yaml").string();
    bool ours = fs::is_regular_file(config, ec);
    if (ours) {
      try {
        (void)train::config_from_yaml(train::load_yaml_file(config), false);
      } catch (const Error&) {
        ours = false;
      }
    }
    WRN_CHECK(ours, "--out {}: not a wrn run ({} is missing or is not a wrn configuration); --force deletes only "
              "runs wrn wrote: choose another --out, or empty it yourself", dir, config);
  }
  return holds_run;
}

bool holds_resumable_run(const std::string& dir) {
  std::error_code ec;  // what train::resume() continues from, in its order
  return fs::exists(train::last_checkpoint_path(dir), ec) || fs::exists(train::previous_checkpoint_path(dir), ec) ||
         fs::exists(fs::path(dir) / "config.yaml", ec);
}

void remove_run(const std::string& dir) {
  std::error_code ec;
  const fs::path root(dir);
  std::vector<fs::path> files;
  const fs::path checkpoints = root / "checkpoints";
  if (fs::is_directory(fs::symlink_status(checkpoints, ec))) {
    for (const auto& entry : fs::directory_iterator(checkpoints, ec))
      if (entry.is_regular_file() && is_checkpoint_file(entry.path().filename().string()))
        files.push_back(entry.path());
    WRN_CHECK_FILE(!ec, "--out {}: cannot list {} ({})", dir, checkpoints.string(), ec.message());
  }
  for (const auto& entry : fs::directory_iterator(root, ec))
    if (entry.is_regular_file() && is_run_file(entry.path().filename().string())) files.push_back(entry.path());
  WRN_CHECK_FILE(!ec, "--out {}: cannot list the directory ({})", dir, ec.message());
  for (const auto& f : files) {
    fs::remove(f, ec);
    WRN_CHECK_FILE(!ec, "--out {}: cannot delete {} ({})", dir, f.string(), ec.message());
  }
  // Emptied (only wrn's files were there): gone; else it stays with the other files in it.
  if (fs::is_directory(fs::symlink_status(checkpoints, ec)) && fs::is_empty(checkpoints, ec))
    fs::remove(checkpoints, ec);
}

}  // namespace wrn::cli
