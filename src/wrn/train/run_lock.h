// One writer per run directory: `wrn train` and `wrn resume` hold an exclusive flock on
// <run_dir>/.lock for as long as they write there, so a second one started into the same
// directory stops at once with a one-line error instead of silently replacing the first's
// results. The lock is the kernel's: it goes away with the process, also after kill -9, so a
// crashed run never leaves a directory that looks busy.
#pragma once

#include <string>

namespace wrn::train {

class RunDirLock {
 public:
  // Requires: run_dir exists. Throws wrn::Error naming the directory (and the holder's pid, as
  // it wrote it) when another process holds the lock; FileError when the lock file cannot be
  // created.
  explicit RunDirLock(const std::string& run_dir);
  ~RunDirLock();
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace wrn::train
