// A graceful stop on SIGINT / SIGTERM for a training run.
//
// The first signal only raises a flag: the engine finishes the step it is in, writes
// checkpoints/last.ckpt and throws TrainingInterrupted (wrn exits 130 or 143 with a message
// saying how to resume), so Ctrl-C or a scheduler's SIGTERM costs nothing: without it, a run
// lost everything since the last periodic checkpoint (up to 15 minutes with the paper presets).
// The handler is installed with SA_RESETHAND: a second signal ends the process at once.
#pragma once

namespace wrn::train {

// Installs the handlers for SIGINT and SIGTERM for its lifetime and restores the previous
// ones after. Not reentrant: one guard at a time per process (the engine's run()).
class StopSignalGuard {
 public:
  StopSignalGuard();
  ~StopSignalGuard();
  StopSignalGuard(const StopSignalGuard&) = delete;
  StopSignalGuard& operator=(const StopSignalGuard&) = delete;

  // The signal received since the guard was installed (SIGINT or SIGTERM), or 0.
  static int received();
};

// "SIGINT", "SIGTERM", or "signal N".
const char* signal_name(int signal);

}  // namespace wrn::train
