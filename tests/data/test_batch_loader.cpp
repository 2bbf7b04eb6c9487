// The streaming batch loader (data/batch_loader.h): order and determinism across worker
// counts, resume at a batch, the bound on allocated batches, errors, skip_bad, shutdown.
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/types.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <random>
#include <stdexcept>
#include <thread>

#include "wrn/core/error.h"
#include "wrn/data/batch_loader.h"

namespace wrn::data {
namespace {

using namespace std::chrono_literals;

const std::vector<int64_t> kShape{3, 5, 6};

uint64_t splitmix(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A pure function of (index, epoch).
torch::Tensor pattern(int64_t index, int64_t epoch) {
  auto t = torch::empty(kShape, torch::kUInt8);
  auto* p = t.data_ptr<uint8_t>();
  uint64_t h = static_cast<uint64_t>(index) * 1000003ull + static_cast<uint64_t>(epoch) * 7919ull;
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<uint8_t>(splitmix(h) >> 56);
  return t;
}

std::vector<int64_t> permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  return order;
}

std::vector<int64_t> identity(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

void atomic_max(std::atomic<int64_t>& a, int64_t v) {
  int64_t m = a.load();
  while (v > m && !a.compare_exchange_weak(m, v)) {
  }
}

LoaderOptions with_workers(int workers, int64_t prefetch = 0) {
  LoaderOptions o;
  o.workers = workers;
  o.prefetch = prefetch;
  return o;
}

std::vector<LoadedBatch> drain(BatchLoader& loader) {
  std::vector<LoadedBatch> out;
  while (loader.has_next()) out.push_back(loader.next());
  return out;
}

// What batch k must hold: the samples order[k * bs ...] of the epoch, in that order.
void expect_batches_match(const std::vector<LoadedBatch>& batches, const std::vector<int64_t>& order,
                          int64_t bs, int64_t epoch, int64_t first_batch = 0) {
  for (size_t b = 0; b < batches.size(); ++b) {
    const int64_t k = first_batch + static_cast<int64_t>(b);
    const int64_t begin = k * bs, count = std::min<int64_t>(bs, static_cast<int64_t>(order.size()) - begin);
    ASSERT_EQ(batches[b].images.sizes(), torch::IntArrayRef({count, 3, 5, 6})) << "batch " << k;
    ASSERT_EQ(batches[b].indices.size(0), count);
    for (int64_t r = 0; r < count; ++r) {
      const int64_t index = order[static_cast<size_t>(begin + r)];
      EXPECT_EQ(batches[b].indices[r].item<int64_t>(), index);
      EXPECT_TRUE(torch::equal(batches[b].images[r], pattern(index, epoch))) << "batch " << k << " row " << r;
    }
    EXPECT_TRUE(batches[b].skipped.empty());
  }
}

TEST(BatchLoader, OneAndFourWorkersGiveIdenticalBatchesOverTwoEpochs) {
  const int64_t n = 53, bs = 7;
  BatchLoader one(pattern, kShape, with_workers(1));
  BatchLoader four(pattern, kShape, with_workers(4));
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    const auto order = permutation(n, 100 + epoch);
    one.start(epoch, order, bs);
    four.start(epoch, order, bs);
    EXPECT_EQ(one.batches(), 8);
    EXPECT_EQ(four.batches(), 8);
    const auto a = drain(one), b = drain(four);
    ASSERT_EQ(a.size(), 8u);
    ASSERT_EQ(b.size(), 8u);
    expect_batches_match(a, order, bs, epoch);
    for (size_t k = 0; k < a.size(); ++k) {
      EXPECT_TRUE(torch::equal(a[k].images, b[k].images)) << "epoch " << epoch << " batch " << k;
      EXPECT_TRUE(torch::equal(a[k].indices, b[k].indices));
    }
    EXPECT_EQ(a.back().images.size(0), n - 7 * bs);  // the shorter last batch
  }
}

TEST(BatchLoader, StartingAtBatchKEqualsAnUninterruptedEpochFromK) {
  const int64_t n = 40, bs = 6, k = 3;
  const auto order = permutation(n, 7);
  BatchLoader full(pattern, kShape, with_workers(3));
  full.start(5, order, bs);
  const auto all = drain(full);
  BatchLoader resumed(pattern, kShape, with_workers(2));
  resumed.start(5, order, bs, k);
  EXPECT_EQ(resumed.batches(), 7);  // counted from batch 0
  const auto tail = drain(resumed);
  ASSERT_EQ(tail.size(), all.size() - k);
  for (size_t i = 0; i < tail.size(); ++i) {
    EXPECT_TRUE(torch::equal(tail[i].images, all[i + k].images));
    EXPECT_TRUE(torch::equal(tail[i].indices, all[i + k].indices));
  }
  // Starting at the end: nothing left, and next() says so.
  resumed.start(5, order, bs, 7);
  EXPECT_FALSE(resumed.has_next());
  EXPECT_THROW(resumed.next(), Error);
  EXPECT_THROW(resumed.start(5, order, bs, 8), ConfigError);
}

// The workers never touch a batch beyond (handed out) + prefetch, and with a stalled consumer
// they fill exactly `prefetch` batches and stop.
TEST(BatchLoader, AtMostPrefetchBatchesAreAllocated) {
  const int64_t n = 60, bs = 4, prefetch = 3;
  std::atomic<int64_t> consumed{0}, max_ahead{-100}, max_batch{-1}, computed{0};
  auto fn = [&](int64_t index, int64_t epoch) {
    atomic_max(max_ahead, index / bs - consumed.load());
    atomic_max(max_batch, index / bs);
    ++computed;
    return pattern(index, epoch);
  };
  BatchLoader loader(fn, kShape, with_workers(4, prefetch));
  loader.start(0, identity(n), bs);
  auto wait_for = [&](int64_t samples) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (computed.load() < samples && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(50ms);  // time for a worker to overrun, if it could
  };
  wait_for(prefetch * bs);
  EXPECT_EQ(computed.load(), prefetch * bs);  // batches 0..2 and not a sample more
  EXPECT_EQ(max_batch.load(), prefetch - 1);
  for (int i = 0; i < 2; ++i) {
    loader.next();
    ++consumed;
  }
  wait_for((2 + prefetch) * bs);
  EXPECT_EQ(computed.load(), (2 + prefetch) * bs);  // batches 2..4
  EXPECT_EQ(max_batch.load(), 2 + prefetch - 1);
  while (loader.has_next()) {
    loader.next();
    ++consumed;
  }
  // While next() runs the loader has counted a batch the test has not yet: at most one more.
  EXPECT_LE(max_ahead.load(), prefetch);
  EXPECT_EQ(computed.load(), n);
  EXPECT_EQ(loader.options().prefetch, prefetch);
}

TEST(BatchLoader, DefaultPrefetchAndWorkers) {
  BatchLoader a(pattern, kShape, with_workers(8));
  EXPECT_EQ(a.options().prefetch, 4);  // 2 + 8 / 4
  BatchLoader b(pattern, kShape, with_workers(1));
  EXPECT_EQ(b.options().prefetch, 2);
  BatchLoader c(pattern, kShape);
  EXPECT_GE(c.options().workers, 1);
  EXPECT_GE(c.options().prefetch, 2);
}

TEST(BatchLoader, TheFirstFailingSampleByPositionFailsItsBatch) {
  // Batch 0 holds 0, 1, 2, 5, 4, 3, 6, 7: sample 5 fails first by position but finishes last.
  std::vector<int64_t> order{0, 1, 2, 5, 4, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  auto fn = [](int64_t index, int64_t epoch) {
    if (index == 5) {
      std::this_thread::sleep_for(30ms);
      throw FileError("img5.png: truncated PNG");
    }
    if (index == 3) throw FileError("img3.png: truncated PNG");
    if (index == 12) throw std::logic_error("not a wrn error");
    return pattern(index, epoch);
  };
  for (int workers : {1, 4}) {
    BatchLoader loader(fn, kShape, with_workers(workers));
    loader.start(0, order, 8);
    try {
      loader.next();
      ADD_FAILURE() << "no error";
    } catch (const FileError& e) {
      EXPECT_STREQ(e.what(), "img5.png: truncated PNG");
    }
    // The failed batch counts as handed out; batch 1 holds a non-wrn exception, rethrown as is.
    EXPECT_TRUE(loader.has_next());
    EXPECT_THROW(loader.next(), std::logic_error);
    EXPECT_FALSE(loader.has_next());
  }
}

TEST(BatchLoader, SkipBadLeavesFailingSamplesOutInOrder) {
  const int64_t n = 20, bs = 5;
  auto fn = [](int64_t index, int64_t epoch) {
    if (index % 7 == 3 || (index >= 15 && index < 20)) throw FileError(fmt::format("img{}.jpg: not a JPEG", index));
    return pattern(index, epoch);
  };
  LoaderOptions o = with_workers(3);
  o.skip_bad = true;
  BatchLoader loader(fn, kShape, o);
  const auto order = permutation(n, 3);
  loader.start(2, order, bs);
  const auto batches = drain(loader);
  ASSERT_EQ(batches.size(), 4u);
  int64_t skipped_total = 0;
  for (int64_t k = 0; k < 4; ++k) {
    std::vector<int64_t> kept;
    std::vector<std::pair<int64_t, std::string>> skipped;
    for (int64_t r = 0; r < bs; ++r) {
      const int64_t index = order[static_cast<size_t>(k * bs + r)];
      if (index % 7 == 3 || index >= 15)
        skipped.emplace_back(index, fmt::format("img{}.jpg: not a JPEG", index));
      else
        kept.push_back(index);
    }
    const LoadedBatch& b = batches[static_cast<size_t>(k)];
    EXPECT_EQ(b.skipped, skipped) << "batch " << k;
    ASSERT_EQ(b.images.size(0), static_cast<int64_t>(kept.size()));
    ASSERT_EQ(b.indices.size(0), static_cast<int64_t>(kept.size()));
    for (size_t r = 0; r < kept.size(); ++r) {
      EXPECT_EQ(b.indices[static_cast<int64_t>(r)].item<int64_t>(), kept[r]);
      EXPECT_TRUE(torch::equal(b.images[static_cast<int64_t>(r)], pattern(kept[r], 2)));
    }
    EXPECT_TRUE(b.images.is_contiguous());
    skipped_total += static_cast<int64_t>(skipped.size());
  }
  EXPECT_EQ(skipped_total, 5 + 2);  // 15..19, and 3, 10 (17 is in both)

  // A batch of only bad samples comes back empty, with all of them reported.
  loader.start(0, {15, 16, 17, 1}, 3);
  const auto b = loader.next();
  EXPECT_EQ(b.images.sizes(), torch::IntArrayRef({0, 3, 5, 6}));
  EXPECT_EQ(b.skipped.size(), 3u);
  EXPECT_EQ(loader.next().indices.size(0), 1);
}

TEST(BatchLoader, AWrongSampleShapeNamesTheIndexAndIsNeverSkipped) {
  for (bool skip : {false, true}) {
    LoaderOptions o = with_workers(2);
    o.skip_bad = skip;
    BatchLoader shape(
        [](int64_t index, int64_t epoch) { return index == 4 ? torch::zeros({3, 6, 5}, torch::kUInt8) : pattern(index, epoch); },
        kShape, o);
    shape.start(0, identity(8), 8);
    try {
      shape.next();
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("sample 4 is uint8 3x6x5 on cpu, expected uint8 3x5x6"), std::string::npos)
          << e.what();
    }
    BatchLoader dtype([](int64_t, int64_t) { return torch::zeros({3, 5, 6}, torch::kFloat32); }, kShape, o);
    dtype.start(0, identity(2), 2);
    EXPECT_THROW(dtype.next(), Error);
  }
  EXPECT_THROW(BatchLoader(pattern, {3, 5}), ConfigError);
  EXPECT_THROW(BatchLoader(pattern, {3, 0, 5}), ConfigError);
  EXPECT_THROW(BatchLoader(pattern, kShape, with_workers(-1)), ConfigError);
  EXPECT_THROW(BatchLoader(pattern, kShape, with_workers(1, -2)), ConfigError);
  BatchLoader loader(pattern, kShape, with_workers(1));
  EXPECT_THROW(loader.next(), Error);  // before start()
  EXPECT_THROW(loader.start(0, identity(4), 0), ConfigError);
}

// A batch that cannot be allocated (4 TiB) fails next() with the allocator's error; the
// worker thread survives it (an exception escaping a std::thread would end the process).
TEST(BatchLoader, AnAllocationFailureFailsItsBatch) {
  std::atomic<int64_t> calls{0};
  BatchLoader loader(
      [&](int64_t, int64_t) {
        ++calls;
        return torch::zeros({1, 1 << 20, 1 << 20}, torch::kUInt8);
      },
      {1, 1 << 20, 1 << 20}, with_workers(2));
  loader.start(0, identity(8), 4);
  EXPECT_THROW(loader.next(), std::exception);
  EXPECT_THROW(loader.next(), std::exception);
  EXPECT_FALSE(loader.has_next());
  EXPECT_EQ(calls.load(), 0);
}

TEST(BatchLoader, DropLastIfOne) {
  BatchLoader loader(pattern, kShape, with_workers(2));
  struct Case {
    int64_t n, bs;
    bool drop;
    int64_t batches;
  };
  for (const Case& c : {Case{9, 4, true, 2}, Case{9, 4, false, 3}, Case{8, 4, true, 2}, Case{10, 4, true, 3},
                        Case{1, 4, true, 0}, Case{1, 4, false, 1}, Case{0, 4, false, 0}}) {
    loader.start(0, identity(c.n), c.bs, 0, c.drop);
    EXPECT_EQ(loader.batches(), c.batches) << c.n << "/" << c.bs << " drop " << c.drop;
    const auto got = drain(loader);
    ASSERT_EQ(static_cast<int64_t>(got.size()), c.batches);
    expect_batches_match(got, identity(c.n), c.bs, 0);
  }
}

TEST(BatchLoader, ASlowConsumerGetsEveryBatchInOrder) {
  const int64_t n = 30, bs = 4;
  BatchLoader loader(pattern, kShape, with_workers(4, 2));
  const auto order = permutation(n, 11);
  loader.start(1, order, bs);
  std::vector<LoadedBatch> got;
  while (loader.has_next()) {
    std::this_thread::sleep_for(5ms);
    got.push_back(loader.next());
  }
  expect_batches_match(got, order, bs, 1);
}

TEST(BatchLoader, StartMidEpochAndDestructionStopCleanly) {
  std::atomic<int64_t> computed{0};
  auto fn = [&](int64_t index, int64_t epoch) {
    ++computed;
    return pattern(index, epoch);
  };
  const auto order = permutation(100, 5);
  {
    // Full queue: the workers wait for room; destroying the loader must not wait for a consumer.
    BatchLoader loader(fn, kShape, with_workers(4, 2));
    loader.start(0, order, 5);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (computed.load() < 10 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    EXPECT_EQ(computed.load(), 10);
  }
  {
    // Workers inside slow samples.
    BatchLoader loader(
        [](int64_t index, int64_t epoch) {
          std::this_thread::sleep_for(20ms);
          return pattern(index, epoch);
        },
        kShape, with_workers(4));
    loader.start(0, order, 5);
    std::this_thread::sleep_for(5ms);
  }
  {
    // A new epoch in the middle of one: its batches are the new epoch's, from its first batch.
    BatchLoader loader(fn, kShape, with_workers(3));
    loader.start(0, order, 5);
    loader.next();
    loader.next();
    const auto order2 = permutation(100, 6);
    loader.start(1, order2, 5, 2);
    expect_batches_match(drain(loader), order2, 5, 1, 2);
    loader.start(2, order2, 5);  // queued batches of a finished epoch are dropped too
  }
}

// Workers run one intra-op thread (a per-thread OpenMP setting); the main thread keeps its own.
TEST(BatchLoader, WorkersUseOneIntraOpThreadAndLeaveTheMainThreadAlone) {
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  std::atomic<int> max_seen{0}, min_seen{1000};
  auto fn = [&](int64_t index, int64_t epoch) {
    // A LibTorch op first (it initializes this thread's OpenMP setting), then the count.
    (void)torch::ones({64, 64}).sum().item<float>();
    const int t = at::get_num_threads();
    int m = max_seen.load();
    while (t > m && !max_seen.compare_exchange_weak(m, t)) {
    }
    m = min_seen.load();
    while (t < m && !min_seen.compare_exchange_weak(m, t)) {
    }
    return pattern(index, epoch);
  };
  {
    BatchLoader loader(fn, kShape, with_workers(3));
    loader.start(0, identity(24), 4);
    drain(loader);
  }
  EXPECT_EQ(max_seen.load(), 1);
  EXPECT_EQ(min_seen.load(), 1);
  EXPECT_EQ(at::get_num_threads(), 2);
  at::set_num_threads(before);
}

TEST(BatchLoader, PinMemoryNeedsCuda) {
  LoaderOptions o = with_workers(1);
  o.pin_memory = true;
  if (!at::globalContext().hasCUDA()) {
    try {
      BatchLoader loader(pattern, kShape, o);
      ADD_FAILURE() << "no error";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("pin_memory needs LibTorch with CUDA"), std::string::npos);
    }
    return;
  }
  BatchLoader loader(pattern, kShape, o);
  loader.start(0, identity(6), 4);
  const auto batches = drain(loader);
  ASSERT_EQ(batches.size(), 2u);
  for (const auto& b : batches) EXPECT_TRUE(b.images.is_pinned());
  expect_batches_match(batches, identity(6), 4, 0);
}

// Throughput sanity, no timing assert: a sample of the size of a 64x64 RGB crop with some
// per-pixel work, on 1 and 2 workers; prints images/s.
TEST(BatchLoader, ThroughputSanity) {
  auto fn = [](int64_t index, int64_t epoch) {
    auto t = torch::empty({3, 64, 64}, torch::kUInt8);
    auto* p = t.data_ptr<uint8_t>();
    uint64_t h = static_cast<uint64_t>(index) * 31 + static_cast<uint64_t>(epoch);
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<uint8_t>(splitmix(h) >> 56);
    return t;
  };
  const int64_t n = 4000;
  for (int workers : {1, 2}) {
    BatchLoader loader(fn, {3, 64, 64}, with_workers(workers));
    const auto t0 = std::chrono::steady_clock::now();
    loader.start(0, identity(n), 128);
    int64_t images = 0;
    while (loader.has_next()) images += loader.next().images.size(0);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(images, n);
    std::printf("  %d worker(s): %.0f images/s (3x64x64)\n", workers, n / s);
  }
}

}  // namespace
}  // namespace wrn::data
