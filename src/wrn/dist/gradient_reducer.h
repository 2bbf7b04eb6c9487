// Averages a flat gradient buffer (train::FlatParameters::grads()) over the ranks: the buffer
// is cut into buckets of about `bucket_bytes`, every bucket's allreduce is started (Gloo runs
// them on its own threads, so they pipeline), then all are awaited and the sum is divided by
// the world size. Every rank then holds the same gradient, and the same optimizer step keeps
// the parameters identical.
//
// Not overlapped with the backward pass: on a CPU, Gloo's threads and the backward compete for
// the same cores (bench/README.md has the numbers and the sums for GPUs).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "wrn/dist/communicator.h"

namespace wrn::dist {

class GradientReducer {
 public:
  GradientReducer(Communicator& comm, torch::Tensor flat_grads, int64_t bucket_bytes = int64_t{25} << 20);

  // grads <- mean over the ranks, in place.
  void reduce();

  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }
  int64_t bytes_per_step() const;  // what one reduce() sends into the allreduce

 private:
  Communicator& comm_;
  torch::Tensor grads_;
  std::vector<torch::Tensor> buckets_;  // views of grads_
};

}  // namespace wrn::dist
