// Averages a flat gradient buffer (train::FlatParameters::grads()) over the ranks: the buffer
// is cut into buckets of about `bucket_bytes`; every bucket is summed by its own allreduce
// (Gloo runs them on its own threads, so they pipeline), then the sum is divided by the world
// size. Every rank then holds the same gradient, and the same optimizer step keeps the
// parameters identical.
//
// Two ways to drive it, with the same buckets and so the same sums, bit for bit:
// - reduce(): after the backward pass, every bucket at once.
// - Overlapped with the backward pass (as DDP's reducer): begin_step() before it, mark_ready()
//   from the gradient hooks as each parameter's gradient becomes final (train/data_parallel.h
//   installs them), finish() after it. A bucket's allreduce starts as soon as all of its
//   elements are final. Buckets start in one fixed order, from the end of the buffer (the last
//   layers, whose gradients the backward pass produces first) to its start: bucket k starts
//   only after buckets above it did. So every rank issues the same collectives in the same
//   order whatever order its hooks fire in, which the process group's matching needs.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "wrn/dist/communicator.h"

namespace wrn::dist {

class GradientReducer {
 public:
  GradientReducer(Communicator& comm, torch::Tensor flat_grads, int64_t bucket_bytes = int64_t{25} << 20);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // grads <- mean over the ranks, in place.
  void reduce();

  // The overlapped step. begin_step() waits for any allreduce a failed step left in flight and
  // marks every element pending. mark_ready(offset, n): elements [offset, offset + n) of the
  // buffer hold their final gradient for this step (each element at most once per step);
  // starts the buckets that became ready. Outside a step it does nothing. finish() starts the
  // buckets still pending (elements never marked keep what the buffer holds), waits for all
  // and divides: grads <- mean over the ranks.
  void begin_step();
  void mark_ready(int64_t offset, int64_t n);
  void finish();
  bool in_step() const { return in_step_; }

  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }
  int64_t bytes_per_step() const;  // what one reduce() sends into the allreduce
  // How many of the last finished step's buckets started before finish(): the overlapped ones.
  int64_t started_before_finish() const { return started_before_finish_; }

 private:
  void start_ready_buckets();
  void wait_all();

  Communicator& comm_;
  torch::Tensor grads_;
  int64_t per_bucket_ = 1;              // elements per bucket (the last one may be shorter)
  std::vector<torch::Tensor> buckets_;  // views of grads_
  std::vector<int64_t> pending_;        // per bucket: elements not yet marked ready this step
  std::vector<PendingAllreduce> in_flight_;
  int64_t next_ = 0;                    // buckets started so far this step, from the last one down
  int64_t started_before_finish_ = 0;
  bool in_step_ = false;
};

}  // namespace wrn::dist
