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
//     When several samples of a batch fail, the first by position in the batch decides. A
//     sample of another shape, dtype or device than `sample_shape` uint8 on the CPU is the
//     sample function's bug: a wrn::Error naming the index, never skipped. The failed batch
//     counts as handed out: a later next() returns the batch after it.
//     The destructor (or start()) stops and joins the workers, also while batches are queued
//     (it waits for the samples being computed to finish, never for the consumer).
//   - One consumer: start(), next(), has_next() and batches() are called from one thread.
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
  bool pin_memory = false;    // batches in page-locked memory (CUDA builds: non_blocking copies);
                              // without CUDA LibTorch and a device the constructor throws ConfigError
};

struct LoadedBatch {
  torch::Tensor images;       // uint8 [B, C, H, W] (B < batch size only when samples were skipped or at the end;
                              // B == 0 when every sample of the batch was skipped)
  torch::Tensor indices;      // int64 [B]: the sample index of each row
  std::vector<std::pair<int64_t, std::string>> skipped;  // (sample index, one-line error)
};

class BatchLoader {
 public:
  // -> uint8 [C, H, W] of `sample_shape` (checked; another shape is a wrn::Error naming the index).
  using SampleFn = std::function<torch::Tensor(int64_t index, int64_t epoch)>;

  // Starts no thread (start() does). Throws ConfigError for a shape that is not 3 positive
  // sizes, workers < 0 or above max_threads(), prefetch < 0, or pin_memory without CUDA.
  BatchLoader(SampleFn sample, std::vector<int64_t> sample_shape, LoaderOptions options = {});
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Begins producing the batches [first_batch, number of batches) of `order` (sample indices)
  // split into batches of `batch_size` (the last one shorter). Stops a previous epoch first.
  // `drop_last_if_one`: a last batch of a single sample is not produced (BatchNorm in training
  // mode cannot take it), matching the engine's step count. Throws ConfigError for
  // batch_size <= 0 or first_batch outside [0, batches()]; first_batch == batches() starts an
  // epoch with nothing left.
  void start(int64_t epoch, std::vector<int64_t> order, int64_t batch_size, int64_t first_batch = 0,
             bool drop_last_if_one = false);

  // The batches of the running epoch in order; blocks until the next is complete. Throws
  // wrn::Error when the epoch has no more batches (or before start()).
  LoadedBatch next();
  bool has_next() const;
  int64_t batches() const;  // in the running epoch, counted from batch 0

  const LoaderOptions& options() const;  // resolved: workers and prefetch > 0

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace wrn::data
