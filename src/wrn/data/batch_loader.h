// Streaming batches: samples computed by a function on a pool of worker threads, assembled
// into uint8 batches in a fixed order, with a bounded number of batches ready or in flight.
//
// Contract:
//   - Deterministic: a sample is a pure function of (index, epoch) (the SampleFn's job, e.g.
//     data::load_train_sample with data::sample_generator), and batch k of an epoch holds the
//     samples order[k * batch_size ...] in that order, so 1 worker and 8 workers give
//     identical batches, and starting at batch k (a resume) gives what an uninterrupted epoch
//     gives from batch k on.
//   - Bounded memory: at most `prefetch` batches are allocated (ready or being filled) at any
//     time, whatever the data set size.
//   - Workers limit their own intra-op parallelism to one thread (a per-thread OpenMP
//     setting), so sample functions may call LibTorch ops without oversubscribing the cores
//     the training step uses.
//   - Errors: a sample that throws wrn::Error fails next() for its batch with that error
//     (one line, naming the file), unless `skip_bad`, in which case the sample is left out of
//     its batch and reported in LoadedBatch::skipped. Any other exception is rethrown as is.
//     The destructor (or start()) stops and joins the workers, also while batches are queued.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace wrn::data {

struct LoaderOptions {
  int workers = 0;            // worker threads; 0: the hardware threads
  int64_t prefetch = 0;       // batches allocated at once; 0: 2 + workers / 4 (at least 2)
  bool skip_bad = false;      // a failing sample is left out instead of failing the batch
  bool pin_memory = false;    // batches in page-locked memory (CUDA builds: non_blocking copies)
};

struct LoadedBatch {
  torch::Tensor images;       // uint8 [B, C, H, W] (B < batch size only when samples were skipped or at the end)
  torch::Tensor indices;      // int64 [B]: the sample index of each row
  std::vector<std::pair<int64_t, std::string>> skipped;  // (sample index, one-line error)
};

class BatchLoader {
 public:
  // -> uint8 [C, H, W] of `sample_shape` (checked; another shape is a wrn::Error naming the index).
  using SampleFn = std::function<torch::Tensor(int64_t index, int64_t epoch)>;

  BatchLoader(SampleFn sample, std::vector<int64_t> sample_shape, LoaderOptions options = {});
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Begins producing the batches [first_batch, number of batches) of `order` (sample indices)
  // split into batches of `batch_size` (the last one shorter). Stops a previous epoch first.
  // `drop_last_if_one`: a last batch of a single sample is not produced (BatchNorm in training
  // mode cannot take it), matching the engine's step count.
  void start(int64_t epoch, std::vector<int64_t> order, int64_t batch_size, int64_t first_batch = 0,
             bool drop_last_if_one = false);

  // The batches of the running epoch in order; blocks until the next is complete. Throws
  // OutOfRange-like wrn::Error when the epoch has no more batches.
  LoadedBatch next();
  bool has_next() const;
  int64_t batches() const;  // in the running epoch, counted from batch 0

  const LoaderOptions& options() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace wrn::data
