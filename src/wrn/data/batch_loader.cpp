// The streaming batch loader (batch_loader.h): a pool of std::threads computes samples one at
// a time, in the order of the epoch, into preallocated uint8 batch tensors.
//
// Work is handed out per sample, not per batch: a cursor (batch, position) walks the epoch,
// and a worker takes the next sample under the lock, computes it without the lock and writes
// its row. So 8 workers fill one batch together (a slow sample does not hold up a whole batch
// on one thread), and which worker computes a sample never changes what is written where.
// The cursor does not enter batch k until k < (batches handed out) + prefetch: that is the
// bound on allocated batches.
#include "wrn/data/batch_loader.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <omp.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "wrn/core/error.h"
#include "wrn/core/threads.h"

namespace wrn::data {

namespace {

// A shape mismatch is the sample function's bug, not a bad file: never skipped.
class SampleShapeError : public Error {
 public:
  using Error::Error;
};

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "x" : "") + std::to_string(s[i]);
  return out;
}

}  // namespace

struct BatchLoader::State {
  struct Slot {
    int64_t batch = 0;
    int64_t begin = 0;  // position in `order` of row 0
    int64_t count = 0;  // samples in this batch
    torch::Tensor images;
    std::vector<std::exception_ptr> errors;  // per row; set by the worker of that row only
    int64_t done = 0;                        // rows finished (under the lock)
  };

  SampleFn sample;
  std::vector<int64_t> shape;
  int64_t sample_bytes = 0;
  LoaderOptions options;

  std::mutex mutex;
  std::condition_variable work_cv;   // workers: a sample to compute, or stop
  std::condition_variable ready_cv;  // consumer: the front batch is complete
  bool stop = false;
  std::vector<std::thread> threads;

  // The running epoch (guarded by `mutex` once workers run).
  bool started = false;
  int64_t epoch = 0;
  std::vector<int64_t> order;
  int64_t batch_size = 0;
  int64_t num_batches = 0;   // counted from batch 0
  int64_t consumed = 0;      // the next batch next() returns
  int64_t cursor_batch = 0;  // the sample the next worker takes
  int64_t cursor_pos = 0;
  std::deque<std::shared_ptr<Slot>> slots;  // batches consumed, consumed + 1, ... (allocated)

  int64_t batch_begin(int64_t k) const { return k * batch_size; }
  int64_t batch_count(int64_t k) const {
    return std::min<int64_t>(batch_size, static_cast<int64_t>(order.size()) - k * batch_size);
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
    }
    work_cv.notify_all();
    for (auto& t : threads) t.join();
    threads.clear();
    stop = false;
    slots.clear();
  }

  bool has_work() const { return cursor_batch < num_batches && cursor_batch < consumed + options.prefetch; }

  void worker() {
    // The first LibTorch call on a thread initializes its OpenMP thread count from the global
    // setting (at::internal::lazy_init_num_threads): trigger that first, then set this
    // thread's own count (the ICV is per thread under libgomp; the main thread keeps its own).
    (void)at::get_num_threads();
    omp_set_num_threads(1);
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      work_cv.wait(lock, [&] { return stop || has_work(); });
      if (stop) return;
      if (cursor_pos == 0) {
        auto slot = std::make_shared<Slot>();
        slot->batch = cursor_batch;
        slot->begin = batch_begin(cursor_batch);
        slot->count = batch_count(cursor_batch);
        std::vector<int64_t> batch_shape{slot->count};
        batch_shape.insert(batch_shape.end(), shape.begin(), shape.end());
        slot->errors.resize(static_cast<size_t>(slot->count));
        try {
          slot->images =
              torch::empty(batch_shape, torch::TensorOptions().dtype(torch::kUInt8).pinned_memory(options.pin_memory));
        } catch (...) {
          // Out of memory: the batch fails with that error in next(), not the process here.
          std::fill(slot->errors.begin(), slot->errors.end(), std::current_exception());
          slot->done = slot->count;
          slots.push_back(std::move(slot));
          ++cursor_batch;
          ready_cv.notify_all();
          continue;
        }
        slots.push_back(std::move(slot));
      }
      std::shared_ptr<Slot> slot = slots.back();
      const int64_t row = cursor_pos++;
      if (cursor_pos == slot->count) {
        ++cursor_batch;
        cursor_pos = 0;
      }
      const int64_t index = order[static_cast<size_t>(slot->begin + row)];
      const int64_t ep = epoch;
      lock.unlock();
      compute(*slot, row, index, ep);
      lock.lock();
      if (++slot->done == slot->count) ready_cv.notify_all();
    }
  }

  void compute(Slot& slot, int64_t row, int64_t index, int64_t ep) {
    try {
      torch::Tensor x = sample(index, ep);
      if (!x.defined() || x.scalar_type() != torch::kUInt8 || !x.device().is_cpu() || x.sizes().vec() != shape)
        throw SampleShapeError(fmt::format(
            "data loader: sample {} is {} {} on {}, expected uint8 {} on the CPU", index,
            !x.defined()                        ? std::string("undefined")
            : x.scalar_type() == torch::kUInt8 ? std::string("uint8")
                                               : std::string(c10::toString(x.scalar_type())),
            x.defined() ? shape_text(x.sizes().vec()) : "", x.defined() ? x.device().str() : "-", shape_text(shape)));
      x = x.contiguous();
      std::memcpy(static_cast<uint8_t*>(slot.images.data_ptr()) + row * sample_bytes, x.data_ptr(),
                  static_cast<size_t>(sample_bytes));
    } catch (...) {
      slot.errors[static_cast<size_t>(row)] = std::current_exception();
    }
  }
};

BatchLoader::BatchLoader(SampleFn sample, std::vector<int64_t> sample_shape, LoaderOptions options)
    : state_(std::make_unique<State>()) {
  WRN_CHECK(static_cast<bool>(sample), "data loader: no sample function");
  WRN_CHECK(sample_shape.size() == 3 && sample_shape[0] > 0 && sample_shape[1] > 0 && sample_shape[2] > 0,
            "data loader: the sample shape must be [C, H, W] with positive sizes, got [{}]",
            shape_text(sample_shape));
  WRN_CHECK(options.workers >= 0 && options.workers <= max_threads(),
            "data loader: workers must be in [0, {}] (0: the hardware threads), got {}", max_threads(),
            options.workers);
  WRN_CHECK(options.prefetch >= 0, "data loader: prefetch must be >= 0 (0: automatic), got {}", options.prefetch);
  WRN_CHECK(!options.pin_memory || at::globalContext().hasCUDA(),
            "data loader: pin_memory needs LibTorch with CUDA and a CUDA device (this one has none); turn it off");
  if (options.workers == 0) options.workers = hardware_threads();
  if (options.prefetch == 0) options.prefetch = std::max(2, 2 + options.workers / 4);
  state_->sample = std::move(sample);
  state_->shape = std::move(sample_shape);
  state_->sample_bytes = state_->shape[0] * state_->shape[1] * state_->shape[2];
  state_->options = options;
}

BatchLoader::~BatchLoader() { state_->stop_workers(); }

void BatchLoader::start(int64_t epoch, std::vector<int64_t> order, int64_t batch_size, int64_t first_batch,
                        bool drop_last_if_one) {
  State& s = *state_;
  s.stop_workers();
  WRN_CHECK(batch_size > 0, "data loader: batch size must be > 0, got {}", batch_size);
  const auto n = static_cast<int64_t>(order.size());
  int64_t batches = (n + batch_size - 1) / batch_size;
  if (drop_last_if_one && n % batch_size == 1) --batches;
  WRN_CHECK(first_batch >= 0 && first_batch <= batches,
            "data loader: first batch {} is outside the epoch's {} batches", first_batch, batches);
  s.started = true;
  s.epoch = epoch;
  s.order = std::move(order);
  s.batch_size = batch_size;
  s.num_batches = batches;
  s.consumed = first_batch;
  s.cursor_batch = first_batch;
  s.cursor_pos = 0;
  if (first_batch == batches) return;
  const int64_t samples = n - first_batch * batch_size;
  const int workers = static_cast<int>(std::min<int64_t>(s.options.workers, samples));
  for (int t = 0; t < workers; ++t) s.threads.emplace_back([&s] { s.worker(); });
}

LoadedBatch BatchLoader::next() {
  State& s = *state_;
  std::shared_ptr<State::Slot> slot;
  {
    std::unique_lock<std::mutex> lock(s.mutex);
    if (!s.started || s.consumed >= s.num_batches)
      throw Error(s.started ? fmt::format("data loader: next() past the last of the {} batches of epoch {}",
                                          s.num_batches, s.epoch)
                            : std::string("data loader: next() before start()"));
    s.ready_cv.wait(lock, [&] { return !s.slots.empty() && s.slots.front()->done == s.slots.front()->count; });
    slot = std::move(s.slots.front());
    s.slots.pop_front();
    ++s.consumed;
  }
  s.work_cv.notify_all();  // room for one more batch

  // The first failure by position decides, so the error does not depend on thread timing.
  LoadedBatch out;
  std::vector<int64_t> kept;
  kept.reserve(static_cast<size_t>(slot->count));
  for (int64_t row = 0; row < slot->count; ++row) {
    const int64_t index = s.order[static_cast<size_t>(slot->begin + row)];
    const std::exception_ptr& e = slot->errors[static_cast<size_t>(row)];
    if (!e) {
      kept.push_back(row);
      continue;
    }
    try {
      std::rethrow_exception(e);
    } catch (const SampleShapeError&) {
      throw;
    } catch (const Error& error) {
      if (!s.options.skip_bad) throw;
      out.skipped.emplace_back(index, one_line_message(error));
    }
  }
  // skip_bad: move the kept rows up (in order) and cut the batch to them.
  auto* base = static_cast<uint8_t*>(slot->images.data_ptr());
  for (size_t i = 0; i < kept.size(); ++i)
    if (kept[i] != static_cast<int64_t>(i))
      std::memmove(base + i * s.sample_bytes, base + kept[i] * s.sample_bytes, static_cast<size_t>(s.sample_bytes));
  const auto b = static_cast<int64_t>(kept.size());
  out.images = b == slot->count ? slot->images : slot->images.narrow(0, 0, b);
  out.indices = torch::empty({b}, torch::kInt64);
  auto* idx = out.indices.data_ptr<int64_t>();
  for (int64_t i = 0; i < b; ++i) idx[i] = s.order[static_cast<size_t>(slot->begin + kept[static_cast<size_t>(i)])];
  return out;
}

bool BatchLoader::has_next() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->started && state_->consumed < state_->num_batches;
}

int64_t BatchLoader::batches() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->started ? state_->num_batches : 0;
}

const LoaderOptions& BatchLoader::options() const { return state_->options; }

}  // namespace wrn::data
