// Who this process is in a data-parallel world: rank, world size, and where the rendezvous
// store is. Read from the environment that torchrun (and `wrn train --nproc-per-node`) set:
//   RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
//   TORCHELASTIC_USE_AGENT_STORE, TORCHELASTIC_RESTART_COUNT.
#pragma once

#include <optional>
#include <string>

namespace wrn::dist {

struct WorldInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // torchrun's agent already serves a TCPStore on MASTER_ADDR:MASTER_PORT: every rank connects
  // as a client, under the prefix /worker/attempt_<restart_count> (as torch.distributed's
  // env:// rendezvous does), so nothing else binds that port.
  bool agent_store = false;
  int restart_count = 0;

  // The variables above; std::nullopt when WORLD_SIZE is not set (a single process).
  // Throws ConfigError naming the variable when one is set but malformed or inconsistent
  // (rank outside [0, world_size), a port outside 1..65535, ...).
  static std::optional<WorldInfo> from_environment();
};

}  // namespace wrn::dist
