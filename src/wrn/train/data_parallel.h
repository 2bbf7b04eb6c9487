// The data-parallel side of a run (one process per rank, the same command on every rank):
//
// - Data: data.batch_size is the global batch. Every rank draws the same epoch permutation;
//   rank r trains on rows r, r+W, r+2W, ... of each global batch (DistributedSampler's
//   interleaving, per batch). The last, short global batch is dropped when a rank would get
//   fewer than 2 images (BatchNorm's minimum), as the single process drops a last batch of 1.
// - Gradients: each rank's loss is weighted by (its rows x W / global rows), so the averaged
//   gradient is the gradient of the global batch's mean loss even for a short last batch;
//   dist::GradientReducer averages the flat buffer; the same step keeps the ranks identical.
//   With distributed.overlap (the default) a hook on every parameter marks its gradient final
//   as autograd accumulates it, and each bucket's allreduce starts during the backward pass.
// - BatchNorm: per rank (as DDP), or model.sync_bn (models/batch_norm.h) over the global batch.
//   The running statistics of rank 0 are broadcast before every evaluation and checkpoint.
// - Per-step decisions (stop signal, non-finite loss, time-based checkpoint) are agreed in one
//   tiny allreduce, so every rank stops, fails or checkpoints at the same step.
// - Evaluation: each rank evaluates its interleaved share of the test set; loss sums and
//   correct counts are summed (exact counts, not averaged percentages).
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "wrn/dist/communicator.h"
#include "wrn/dist/gradient_reducer.h"
#include "wrn/models/batch_norm.h"
#include "wrn/optim/flat_parameters.h"
#include "wrn/optim/mixed_precision.h"

namespace wrn::train {

struct StepDecision {
  bool stop = false;        // a stop signal reached any rank
  bool diverged = false;    // any rank's loss is not finite
  bool checkpoint = false;  // rank 0's checkpoint timer is due
};

class DataParallel {
 public:
  DataParallel(std::shared_ptr<dist::Communicator> comm, torch::Tensor flat_grads, double bucket_mb);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  int rank() const { return comm_->rank(); }
  int size() const { return comm_->size(); }
  dist::Communicator& comm() { return *comm_; }

  // This rank's rows of a global batch (any 1-D tensor of sample indices).
  torch::Tensor shard(const torch::Tensor& global_rows) const;
  int64_t shard_size(int64_t global_rows) const;
  // This rank's share of indices 0..n-1 (evaluation).
  std::vector<int64_t> shard_indices(int64_t n) const;

  // Overlaps the gradient reduction with the backward pass: installs a post-accumulate hook on
  // every parameter of `flat` (removed by the destructor) that, inside a step, converts the
  // parameter's reduced-precision gradient into its master slice (`mixed`, which must outlive
  // this) and marks the slice ready in the reducer. Nothing in a 1-rank world.
  void overlap_with_backward(const FlatParameters& flat, MixedPrecisionWeights& mixed);
  bool overlapped() const { return !hooked_.empty(); }
  // Before each step's forward pass (overlapped: arms the hooks).
  void begin_step();
  // After the backward pass: every rank's gradient is the mean. Overlapped: starts what the
  // hooks did not, then waits.
  void reduce_gradients();
  // Overlapped: buckets of the last step that started during the backward pass / all buckets.
  int64_t buckets_started_in_backward() const { return reducer_->started_before_finish(); }
  int64_t buckets() const { return reducer_->buckets(); }
  // Wall time spent in reduce_gradients() since the last call, and the bytes it reduced per step.
  double take_reduce_seconds();
  int64_t reduce_steps() const { return reduce_steps_; }
  int64_t bytes_per_step() const { return reducer_->bytes_per_step(); }
  StepDecision agree(const StepDecision& mine);
  // Rank 0's values of `tensors` (parameters, buffers) on every rank.
  void broadcast(const std::vector<torch::Tensor>& tensors);
  // Sums over the ranks (a copy: the arguments are unchanged).
  std::vector<double> sum(const std::vector<double>& values);

  // model.sync_bn: the scope under which the model's forward synchronizes its BatchNorm.
  models::CrossReplicaSum* cross_replica_sum() { return &bn_sum_; }

 private:
  class BnSum : public models::CrossReplicaSum {
   public:
    explicit BnSum(dist::Communicator& comm) : comm_(comm) {}
    void sum(torch::Tensor& t) override;

   private:
    dist::Communicator& comm_;
  };

  std::shared_ptr<dist::Communicator> comm_;
  std::unique_ptr<dist::GradientReducer> reducer_;
  std::vector<torch::Tensor> hooked_;  // the parameters carrying a hook of overlap_with_backward
  std::vector<uint8_t> seen_;          // per hooked parameter: its hook fired in this step
  BnSum bn_sum_;
  double reduce_seconds_ = 0;
  int64_t reduce_steps_ = 0;
};

}  // namespace wrn::train
