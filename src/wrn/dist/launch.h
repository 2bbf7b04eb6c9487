// `wrn train --nproc-per-node N`: starts N local worker processes (this program again, with
// the arguments it is given) and sets for each the variables torchrun sets: RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT. Multi-node: the same
// command on every node with --nnodes, --node-rank and one --master-addr/--master-port.
//
// The launcher never leaves orphans: each worker dies with it (PR_SET_PDEATHSIG); SIGINT and
// SIGTERM are passed on to the workers (they checkpoint and exit); when a worker fails, the
// others get `grace` to fail by themselves (their collectives name the lost rank), then are
// killed, and every worker is reaped before launch() returns.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace wrn::dist {

struct LaunchOptions {
  int nproc_per_node = 1;
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;  // 0: a free port of this host (one node only)
  std::chrono::milliseconds grace{std::chrono::seconds(10)};
  bool quiet = false;   // no line when a worker fails
  // After a failed world (a worker died or exited non-zero), start every worker again, at most
  // this many times; the workers see TORCHELASTIC_RESTART_COUNT = 1, 2, ... as under torchrun
  // (wrn train then continues its run from the last checkpoint). Not after SIGINT/SIGTERM.
  int max_restarts = 0;
};

// Runs the workers (`program` with `args`) and waits for all of them. Returns 0 when every
// worker exited 0, else the first failure's exit status (128 + signal for a killed worker) of
// the last attempt (see max_restarts). Throws ConfigError for bad options.
int launch(const std::string& program, const std::vector<std::string>& args, const LaunchOptions& options);

// A TCP port that is free on this host now (bound to port 0, then released).
int free_port();

}  // namespace wrn::dist
