// The one overwrite rule of every command that writes (export, import, train): an existing
// output is refused with a one-line error naming it, unless --force.
#pragma once

#include <string>

namespace wrn::cli {

// Throws wrn::ConfigError "OPTION PATH: already exists (use --force to overwrite)" when
// `path` exists and `force` is false.
void check_output_file(const std::string& option, const std::string& path, bool force);

// For `wrn train --out DIR`. True when DIR already holds a run (config.yaml, metrics.jsonl or
// checkpoints/); then, unless `force`, throws wrn::ConfigError naming DIR and the ways out
// (resume, --force, another --out).
bool check_run_dir(const std::string& dir, bool force);

// Deletes the run in DIR: checkpoints/ and the files training writes (config.yaml,
// metrics.jsonl, report.md, curves.png, confusion.png, events.out.tfevents.*), nothing else.
// Throws wrn::FileError naming what could not be deleted.
void remove_run(const std::string& dir);

}  // namespace wrn::cli
