// Collectives between the ranks of a data-parallel run, over PyTorch's c10d: Gloo on the CPU
// (built into LibTorch's libtorch_cpu), NCCL for CUDA tensors when built with WRN_WITH_NCCL. The c10d
// types stay in communicator.cpp, so this header needs no Gloo headers.
//
// Faults (Gloo, CPU tensors): every collective has the timeout of CommunicatorOptions; a peer
// that died (its sockets close) or hangs (the timeout) makes the collective throw PeerError,
// whose message names this rank, the operation and the rank that was lost where it can tell:
// a peer on this host whose process is gone, or one whose heartbeat (a count every rank bumps
// in the store every second, from a thread of its own) stopped; or that this rank cannot reach
// the store on rank 0's node at all (its own link is down). NCCL (CUDA tensors): the same timeout is the
// NCCL process group's, enforced by LibTorch's watchdog, which ends the process on expiry
// rather than raising an exception here; errors NCCL reports synchronously are a PeerError.
#pragma once

#include <torch/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "wrn/core/error.h"
#include "wrn/dist/world.h"

namespace wrn::dist {

// A collective failed: a peer died, hung past the timeout, or the rendezvous did not complete.
class PeerError : public Error {
 public:
  using Error::Error;
};

struct CommunicatorOptions {
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};  // distributed.timeout
  // The address Gloo binds and announces. Empty: $GLOO_SOCKET_IFNAME's interface when set,
  // 127.0.0.1 when the master address is a loopback one, else this host's name.
  std::string gloo_host;
};

// An allreduce in flight (allreduce_sum_async); wait() blocks until it is done.
class PendingAllreduce {
 public:
  struct Impl;
  explicit PendingAllreduce(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  void wait();

 private:
  std::shared_ptr<Impl> impl_;
};

class Communicator {
 public:
  // Joins the world: rank 0 serves the TCPStore on master_addr:master_port (or, under
  // torchrun's agent, every rank is a client of the agent's store), then the process group
  // is formed. Throws PeerError when the others do not arrive within the timeout.
  static std::shared_ptr<Communicator> connect(const WorldInfo& world, const CommunicatorOptions& options = {});

  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const;
  int local_rank() const;  // this process's index on its node (its GPU under CUDA)
  int size() const;
  std::chrono::milliseconds timeout() const;

  // Sums `t` over the ranks, in place (t contiguous, on the CPU for Gloo).
  void allreduce_sum(torch::Tensor& t);
  PendingAllreduce allreduce_sum_async(const torch::Tensor& t);
  // Rank `root`'s `t` on every rank, in place.
  void broadcast(torch::Tensor& t, int root = 0);
  // Every rank's bytes, in rank order (any sizes).
  std::vector<std::string> all_gather_bytes(const std::string& bytes);
  // Rank 0's bytes on every rank.
  std::string broadcast_bytes(const std::string& bytes);
  void barrier();

  // For errors: "rank R of W".
  std::string who() const;

  struct Impl;
  explicit Communicator(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// Throws ConfigError when `value` is not the same on every rank; `what` names it ("the
// configuration", "the model's parameter count") and the message lists the ranks that differ.
void check_same_on_all_ranks(Communicator& comm, const std::string& value, const std::string& what);

// Whether this build has the NCCL collectives for CUDA tensors (-DWRN_WITH_NCCL, on by default
// with a CUDA LibTorch and the CUDA toolkit). Without them a CUDA tensor is a ConfigError.
bool nccl_compiled_in();

}  // namespace wrn::dist
