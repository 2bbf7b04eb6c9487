// The one overwrite rule of every command that writes (export, import, eval, train): an
// existing output is refused with a one-line error naming it unless --force, and anything but
// a regular file (a directory, a symlink, a device such as /dev/null, a FIFO) is never
// replaced, --force or not. Standard output is asked for explicitly, as "-", where a command
// offers it.
#pragma once

#include <string>

namespace wrn::cli {

// Throws wrn::ConfigError "OPTION PATH: already exists (use --force to overwrite)" when
// `path` exists and `force` is false, and "OPTION PATH: is a ..., not a regular file" when it
// exists as anything but a regular file.
void check_output_file(const std::string& option, const std::string& path, bool force);

// For `wrn train --out DIR`. True when DIR already holds a run (config.yaml, metrics.jsonl or
// checkpoints/); then, unless `force`, throws wrn::ConfigError naming DIR and the ways out
// (resume, --force, another --out). With `force`, DIR must be a run wrn wrote (a config.yaml
// that reads as a wrn configuration), else ConfigError: --force never deletes another
// program's files. Also refuses a DIR that is not a directory, or so long a path that the
// run's files would not fit in PATH_MAX.
bool check_run_dir(const std::string& dir, bool force);

// True when DIR holds a run `wrn resume` can continue (a checkpoint, or the config.yaml of a
// run that stopped before its first checkpoint).
bool holds_resumable_run(const std::string& dir);

// Deletes the run in DIR: what training writes (config.yaml, metrics.jsonl, steps.jsonl,
// report.md, curves.png, confusion.png, events.out.tfevents.*, and in checkpoints/ the *.ckpt
// files and their temporaries, then checkpoints/ itself when that leaves it empty), nothing
// else. Throws wrn::FileError naming what could not be deleted.
void remove_run(const std::string& dir);

}  // namespace wrn::cli
