// Data-parallel options of `wrn train` / `wrn resume`: the built-in launcher
// (--nproc-per-node, --nnodes, --node-rank, --master-addr, --master-port) and joining the
// world that it or torchrun describes in the environment.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "wrn/train/trainer.h"

namespace wrn::cli {

struct DistributedArgs {
  int nproc_per_node = 0;  // 0: no launcher
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;
  int max_restarts = 0;    // the launcher restarts a failed world this many times at most
};

void add_distributed_options(CLI::App* cmd, DistributedArgs& args);

// With --nproc-per-node, in a process that is not already a rank: runs the workers (this
// program with the same arguments, less the launcher's) and throws ExitStatus with their
// result. Otherwise returns.
void launch_if_asked(const DistributedArgs& args, bool quiet);

// Under RANK/WORLD_SIZE (torchrun or the launcher): joins the world, with the run's
// distributed.timeout, and sets options.communicator and, unless the config sets threads,
// options.threads to this host's cores / LOCAL_WORLD_SIZE. `timeout_s`: distributed.timeout.
void join_world(train::RunOptions& options, double timeout_s);

// False on ranks other than 0 (they print no summary and touch no run directory).
bool is_root_process();

// How many times torchrun (or wrn's launcher, --max-restarts) has restarted this world:
// TORCHELASTIC_RESTART_COUNT, 0 when unset. Throws ConfigError when it is not a number.
int restart_count();

}  // namespace wrn::cli
