#include "distributed.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "command.h"
#include "wrn/core/error.h"
#include "wrn/dist/communicator.h"
#include "wrn/dist/launch.h"
#include "wrn/dist/world.h"

namespace wrn::cli {
namespace {

const char* const kLauncherOptions[] = {"--nproc-per-node", "--nnodes", "--node-rank", "--master-addr",
                                        "--master-port", "--max-restarts"};

// The tool's arguments without the launcher's options ("--opt V" and "--opt=V").
std::vector<std::string> worker_arguments() {
  std::vector<std::string> out;
  const auto& in = program_arguments();
  for (size_t i = 0; i < in.size(); ++i) {
    bool launcher = false;
    for (const char* o : kLauncherOptions) {
      if (in[i] == o) {
        launcher = true;
        ++i;  // its value
        break;
      }
      if (in[i].rfind(std::string(o) + "=", 0) == 0) {
        launcher = true;
        break;
      }
    }
    if (!launcher) out.push_back(in[i]);
  }
  return out;
}

std::string this_program() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  WRN_CHECK(n > 0, "cannot find this program's path (/proc/self/exe) to start the workers");
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

void add_distributed_options(CLI::App* cmd, DistributedArgs& a) {
  const char* group = "Data parallel (see docs/data-parallel.md)";
  cmd->add_option("--nproc-per-node", a.nproc_per_node,
                  "Start N worker processes on this node, one rank each (data.batch_size is the global batch)")
      ->group(group);
  cmd->add_option("--nnodes", a.nnodes, "Number of nodes (run the same command on each)")->group(group);
  cmd->add_option("--node-rank", a.node_rank, "This node's index, 0 to nnodes-1")->group(group);
  cmd->add_option("--master-addr", a.master_addr, "Address of node 0, where rank 0 serves the rendezvous store")
      ->group(group);
  cmd->add_option("--master-port", a.master_port, "Port of the rendezvous store; 0: a free one (one node only)")
      ->group(group);
  cmd->add_option("--max-restarts", a.max_restarts,
                  "When a worker fails, restart every worker of this node at most N times; they continue the run "
                  "from its last checkpoint (as torchrun --max-restarts)")
      ->group(group);
}

void launch_if_asked(const DistributedArgs& a, bool quiet) {
  if (a.nproc_per_node == 0) {
    WRN_CHECK(a.nnodes == 1 && a.node_rank == 0, "--nnodes and --node-rank need --nproc-per-node");
    WRN_CHECK(a.max_restarts == 0, "--max-restarts needs --nproc-per-node (under torchrun: torchrun --max-restarts)");
    return;
  }
  WRN_CHECK(!std::getenv("WORLD_SIZE"),
            "--nproc-per-node given in a process that is already a rank (WORLD_SIZE is set): use one launcher");
  dist::LaunchOptions o;
  o.nproc_per_node = a.nproc_per_node;
  o.nnodes = a.nnodes;
  o.node_rank = a.node_rank;
  o.master_addr = a.master_addr;
  o.master_port = a.master_port;
  o.max_restarts = a.max_restarts;
  (void)quiet;  // a failed worker is an error: reported even with --quiet
  throw ExitStatus{dist::launch(this_program(), worker_arguments(), o)};
}

void join_world(train::RunOptions& options, double timeout_s) {
  const auto world = dist::WorldInfo::from_environment();
  if (!world) return;
  dist::CommunicatorOptions co;
  co.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  options.communicator = dist::Communicator::connect(*world, co);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  options.default_threads = std::max(1, cores / world->local_world_size);
  if (world->rank != 0) options.quiet = true;  // rank 0 reports for all
}

int restart_count() {
  const char* v = std::getenv("TORCHELASTIC_RESTART_COUNT");
  if (!v || !*v) return 0;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  WRN_CHECK(*end == '\0' && n >= 0 && n <= 1000000, "TORCHELASTIC_RESTART_COUNT is '{}', expected a count", v);
  return static_cast<int>(n);
}

bool is_root_process() {
  const char* r = std::getenv("RANK");
  return !r || std::string(r) == "0";
}

}  // namespace wrn::cli
