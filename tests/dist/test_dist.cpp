#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "wrn/dist/communicator.h"
#include "wrn/dist/gradient_reducer.h"
#include "wrn/dist/launch.h"
#include "wrn/dist/world.h"
#include "wrn/models/batch_norm.h"

namespace fs = std::filesystem;
using namespace wrn;

namespace {

// Runs fn(rank, comm) on `world` threads, each one rank of a Gloo world on 127.0.0.1.
void run_world(int world, const std::function<void(int, dist::Communicator&)>& fn, bool agent_store = false,
               std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const int port = dist::free_port();
  c10::intrusive_ptr<c10d::TCPStore> agent;
  if (agent_store) {  // torchrun's agent: a store server the workers only connect to
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(port);
    so.isServer = true;
    so.waitWorkers = false;
    agent = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", so);
  }
  std::vector<std::thread> threads;
  std::vector<std::string> errors(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        dist::WorldInfo w;
        w.rank = r;
        w.world_size = world;
        w.local_rank = r;
        w.local_world_size = world;
        w.master_port = port;
        w.agent_store = agent_store;
        w.restart_count = 3;
        dist::CommunicatorOptions o;
        o.timeout = timeout;
        auto comm = dist::Communicator::connect(w, o);
        fn(r, *comm);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) EXPECT_EQ(errors[static_cast<size_t>(r)], "") << "rank " << r;
  if (agent) {
    // The workers' keys live under torch.distributed's prefix for restart 3, nothing at the top.
    EXPECT_GT(agent->getNumKeys(), 0);
  }
}

class CommSum : public models::CrossReplicaSum {
 public:
  explicit CommSum(dist::Communicator& c) : c_(c) {}
  void sum(torch::Tensor& t) override { c_.allreduce_sum(t); }

 private:
  dist::Communicator& c_;
};

}  // namespace

TEST(World, FromEnvironment) {
  ::unsetenv("WORLD_SIZE");
  EXPECT_FALSE(dist::WorldInfo::from_environment().has_value());
  ::setenv("WORLD_SIZE", "4", 1);
  ::setenv("RANK", "2", 1);
  ::setenv("LOCAL_RANK", "0", 1);
  ::setenv("LOCAL_WORLD_SIZE", "2", 1);
  ::setenv("MASTER_ADDR", "node0", 1);
  ::setenv("MASTER_PORT", "29511", 1);
  ::setenv("TORCHELASTIC_USE_AGENT_STORE", "True", 1);
  ::setenv("TORCHELASTIC_RESTART_COUNT", "1", 1);
  auto w = dist::WorldInfo::from_environment();
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->rank, 2);
  EXPECT_EQ(w->world_size, 4);
  EXPECT_EQ(w->local_world_size, 2);
  EXPECT_EQ(w->master_addr, "node0");
  EXPECT_EQ(w->master_port, 29511);
  EXPECT_TRUE(w->agent_store);
  EXPECT_EQ(w->restart_count, 1);
  ::setenv("RANK", "4", 1);  // outside [0, 4)
  try {
    dist::WorldInfo::from_environment();
    ADD_FAILURE() << "RANK=4 of 4 accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("RANK='4'"), std::string::npos) << e.what();
  }
  for (const char* v : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                        "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT"})
    ::unsetenv(v);
}

TEST(Communicator, CollectivesOnThreeRanks) {
  run_world(3, [](int r, dist::Communicator& c) {
    EXPECT_EQ(c.rank(), r);
    EXPECT_EQ(c.size(), 3);
    auto t = torch::full({5}, static_cast<float>(r + 1));
    c.allreduce_sum(t);
    EXPECT_TRUE(torch::equal(t, torch::full({5}, 6.0f)));
    auto b = torch::full({2, 3}, static_cast<double>(10 * r), torch::kDouble);
    c.broadcast(b);
    EXPECT_TRUE(torch::equal(b, torch::zeros({2, 3}, torch::kDouble)));
    const auto all = c.all_gather_bytes(std::string(static_cast<size_t>(r), 'x') + std::to_string(r));
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0], "0");
    EXPECT_EQ(all[2], "xx2");
    EXPECT_EQ(c.broadcast_bytes(r == 0 ? std::string("from\0zero", 9) : "other"), std::string("from\0zero", 9));
    dist::check_same_on_all_ranks(c, "same", "the value");
    try {
      dist::check_same_on_all_ranks(c, r == 2 ? "two" : "same", "the configuration");
      ADD_FAILURE() << "a difference was not found";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("the configuration differs between rank 0 and rank(s) 2"),
                std::string::npos)
          << e.what();
    }
    c.barrier();
  });
}

// CUDA tensors through NCCL (a build with -DWRN_WITH_NCCL=ON against a CUDA LibTorch): one
// rank, since NCCL takes one GPU per rank; the trainer never allreduces in a 1-rank world, so
// this is where the NCCL allreduce path runs on a single-GPU machine.
// The NCCL code is compiled and linked whenever the build is against a CUDA LibTorch with the
// toolkit (CI's is): the ProcessGroupNCCL construction in communicator.cpp is in the binary,
// even where no GPU can run it (the next test then skips).
TEST(Communicator, NcclCollectivesAreCompiledInWhenTheBuildLinksCuda) {
  EXPECT_EQ(dist::nccl_compiled_in(), WRN_EXPECT_NCCL != 0);
}

TEST(Communicator, CudaTensorsOnOneRankGoThroughNccl) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device in this LibTorch build";
  run_world(1, [](int, dist::Communicator& c) {
    auto t = torch::full({1000}, 3.0f, torch::kCUDA);
    try {
      c.allreduce_sum(t);
    } catch (const Error& e) {
      if (std::string(e.what()).find("no NCCL") != std::string::npos) GTEST_SKIP() << e.what();
      throw;
    }
    auto pending = c.allreduce_sum_async(t);
    pending.wait();
    EXPECT_TRUE(torch::equal(t.cpu(), torch::full({1000}, 3.0f)));
    auto b = torch::arange(6, torch::TensorOptions().dtype(torch::kFloat).device(torch::kCUDA));
    c.broadcast(b);
    EXPECT_TRUE(torch::equal(b.cpu(), torch::arange(6, torch::kFloat)));
  });
}

TEST(Communicator, JoinsTorchrunsAgentStoreUnderItsPrefix) {
  run_world(2, [](int r, dist::Communicator& c) {
    auto t = torch::full({1}, static_cast<float>(r));
    c.allreduce_sum(t);
    EXPECT_EQ(t.item<float>(), 1.0f);
  }, /*agent_store=*/true);
}

// Issue 10, test 2: without sync BN, the reduced gradient is the mean of the two half-batch
// gradients computed in one process.
TEST(GradientReducer, AveragesTheHalfBatchGradients) {
  torch::manual_seed(7);
  auto net = torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3)), torch::nn::BatchNorm2d(4),
                                   torch::nn::ReLU(), torch::nn::Flatten(), torch::nn::Linear(4 * 6 * 6, 3));
  auto x = torch::randn({16, 1, 8, 8});
  auto y = torch::randint(0, 3, {16}, torch::kLong);
  auto grads_of = [&](torch::nn::Sequential m, const torch::Tensor& xs, const torch::Tensor& ys) {
    for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
    torch::nn::functional::cross_entropy(m->forward(xs), ys).backward();
    std::vector<torch::Tensor> g;
    for (auto& p : m->parameters()) g.push_back(p.grad().flatten());
    return torch::cat(g);
  };
  // Each rank's own copy (built here: the default generator is one per process).
  std::vector<torch::nn::Sequential> copies;
  for (int r = 0; r < 2; ++r) copies.push_back(std::dynamic_pointer_cast<torch::nn::SequentialImpl>(net->clone()));
  const auto g0 = grads_of(std::dynamic_pointer_cast<torch::nn::SequentialImpl>(net->clone()), x.narrow(0, 0, 8), y.narrow(0, 0, 8));
  const auto g1 = grads_of(std::dynamic_pointer_cast<torch::nn::SequentialImpl>(net->clone()), x.narrow(0, 8, 8), y.narrow(0, 8, 8));
  const auto expected = (g0 + g1) / 2;
  std::vector<torch::Tensor> reduced(2);
  run_world(2, [&](int r, dist::Communicator& c) {
    auto g = grads_of(copies[static_cast<size_t>(r)], x.narrow(0, 8 * r, 8), y.narrow(0, 8 * r, 8)).contiguous();
    dist::GradientReducer reducer(c, g, /*bucket_bytes=*/256);  // several buckets
    EXPECT_GT(reducer.buckets(), 2);
    reducer.reduce();
    reduced[static_cast<size_t>(r)] = g;
  });
  ASSERT_TRUE(reduced[0].defined() && reduced[1].defined());
  EXPECT_TRUE(torch::equal(reduced[0], reduced[1]));  // identical on every rank
  EXPECT_TRUE(torch::allclose(reduced[0], expected, 1e-6, 1e-7)) << (reduced[0] - expected).abs().max();
}

// Issue 23: the reduction overlapped with the backward pass. Three ranks (a ring's summation
// order depends on where an element sits in its bucket, so only the same buckets give the same
// bits), 257 elements in buckets of 16: every rank marks its parameters ready in its own order
// (rank 2 one element-range twice-split), and the result is bitwise reduce()'s on the same
// input. Were the buckets started in hook order, the ranks would pair different buckets.
TEST(GradientReducer, OverlappedStepEqualsTheReductionAfterTheBackwardWhateverTheHookOrder) {
  const int64_t bucket_bytes = 16 * 4;  // 257 elements: 16 buckets of 16 and one of 1
  // "Parameters": [offset, size) ranges covering the buffer, straddling bucket edges.
  const std::vector<std::pair<int64_t, int64_t>> params{{0, 5}, {5, 30}, {35, 1}, {36, 100}, {136, 121}};
  // Drawn here, not in the rank threads: they would share (and race on) the default generator.
  std::vector<torch::Tensor> inputs;
  for (int r = 0; r < 3; ++r) {
    torch::manual_seed(100 + r);
    inputs.push_back(torch::randn({257}) * 1e3);
  }
  auto input = [&](int r) { return inputs[static_cast<size_t>(r)].clone(); };
  std::vector<torch::Tensor> after(3), overlapped(3), never_marked(3);
  std::vector<int64_t> early(3);
  run_world(3, [&](int r, dist::Communicator& c) {
    auto g = input(r);
    dist::GradientReducer reducer(c, g, bucket_bytes);
    ASSERT_EQ(reducer.buckets(), 17);
    reducer.reduce();
    after[static_cast<size_t>(r)] = g.clone();

    g.copy_(input(r));
    reducer.mark_ready(0, 5);  // outside a step: nothing
    reducer.begin_step();
    EXPECT_TRUE(reducer.in_step());
    std::vector<size_t> order{4, 3, 2, 1, 0};                   // the backward's order
    if (r == 1) order = {0, 2, 4, 1, 3};                        // another one
    for (size_t i : order) {
      auto [offset, size] = params[i];
      if (r == 2 && i == 3) {  // one parameter's range in two calls
        reducer.mark_ready(offset, 40);
        reducer.mark_ready(offset + 40, size - 40);
      } else {
        reducer.mark_ready(offset, size);
      }
    }
    try {
      reducer.mark_ready(36, 1);
      ADD_FAILURE() << "a range marked twice was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("marked ready twice"), std::string::npos) << e.what();
    }
    reducer.finish();
    EXPECT_FALSE(reducer.in_step());
    early[static_cast<size_t>(r)] = reducer.started_before_finish();
    overlapped[static_cast<size_t>(r)] = g.clone();

    // A step whose hooks never fired (all the work in finish()) reduces everything too.
    g.copy_(input(r));
    reducer.begin_step();
    reducer.mark_ready(136, 121);
    reducer.finish();
    never_marked[static_cast<size_t>(r)] = g.clone();
  });
  for (int r = 0; r < 3; ++r) {
    const auto i = static_cast<size_t>(r);
    ASSERT_TRUE(after[i].defined() && overlapped[i].defined() && never_marked[i].defined());
    EXPECT_TRUE(torch::equal(after[i], after[0])) << "rank " << r;
    EXPECT_TRUE(torch::equal(overlapped[i], after[i])) << "rank " << r;
    EXPECT_TRUE(torch::equal(never_marked[i], after[i])) << "rank " << r;
    EXPECT_EQ(early[i], 17) << "rank " << r << ": every bucket was ready before finish()";
  }
  EXPECT_TRUE(torch::allclose(after[0], (input(0) + input(1) + input(2)) / 3, 1e-5, 1e-3));
}

TEST(Communicator, AHungPeerIsAPeerErrorWithinTheTimeout) {
  std::atomic<bool> done{false};
  run_world(2, [&](int r, dist::Communicator& c) {
    if (r == 1) {  // never joins the allreduce; waits for rank 0 to give up
      while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    try {
      auto t = torch::ones({4});
      c.allreduce_sum(t);
      ADD_FAILURE() << "the allreduce completed without rank 1";
    } catch (const dist::PeerError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("rank 0 of 2"), std::string::npos) << m;
      EXPECT_NE(m.find("allreduce"), std::string::npos) << m;
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
    done = true;
  }, false, std::chrono::seconds(2));
}

// Synchronized BatchNorm over 2 ranks equals one BatchNorm over the whole batch: output, input
// gradient, summed weight gradients and running statistics.
TEST(SyncBatchNorm, TwoRanksEqualOneBatch) {
  torch::manual_seed(3);
  torch::nn::BatchNorm2d ref(5);
  {
    torch::NoGradGuard g;
    ref->weight.uniform_(0.5, 1.5);
    ref->bias.uniform_(-0.5, 0.5);
  }
  auto x = torch::randn({12, 5, 4, 3}) * 3 + 1;
  auto dy = torch::randn({12, 5, 4, 3});
  auto xr = x.clone().requires_grad_(true);
  auto y = ref->forward(xr);
  y.backward(dy);
  // Outside a scope: the module's own forward, bitwise.
  {
    auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(ref->clone());
    EXPECT_TRUE(torch::equal(models::batch_norm(*bn, x), bn->forward(x)));
  }
  std::vector<std::shared_ptr<torch::nn::BatchNorm2dImpl>> bns;
  for (int r = 0; r < 2; ++r) {
    auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(ref->clone());
    torch::NoGradGuard g;
    bn->running_mean.zero_();
    bn->running_var.fill_(1);
    bns.push_back(bn);
  }
  std::vector<torch::Tensor> ys(2), dxs(2), dws(2), dbs(2);
  run_world(2, [&](int r, dist::Communicator& c) {
    CommSum sum(c);
    auto& bn = *bns[static_cast<size_t>(r)];
    auto xi = x.narrow(0, 6 * r, 6).clone().requires_grad_(true);
    torch::Tensor yi;
    {
      models::BatchNormSyncScope scope(&sum);
      yi = models::batch_norm(bn, xi);
    }
    yi.backward(dy.narrow(0, 6 * r, 6));
    ys[static_cast<size_t>(r)] = yi.detach();
    dxs[static_cast<size_t>(r)] = xi.grad();
    dws[static_cast<size_t>(r)] = bn.weight.grad().clone();
    dbs[static_cast<size_t>(r)] = bn.bias.grad().clone();
  });
  ASSERT_TRUE(ys[0].defined() && ys[1].defined());
  EXPECT_TRUE(torch::allclose(torch::cat(ys), y.detach(), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(torch::cat(dxs), xr.grad(), 1e-5, 1e-5)) << (torch::cat(dxs) - xr.grad()).abs().max();
  EXPECT_TRUE(torch::allclose(dws[0] + dws[1], ref->weight.grad(), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(dbs[0] + dbs[1], ref->bias.grad(), 1e-5, 1e-5));
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(torch::allclose(bns[static_cast<size_t>(r)]->running_mean, ref->running_mean, 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(bns[static_cast<size_t>(r)]->running_var, ref->running_var, 1e-5, 1e-6));
  }
}

namespace {

fs::path temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("wrn-dist-" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(Launcher, SetsTorchrunsVariablesForEachWorker) {
  const auto dir = temp_dir("env");
  dist::LaunchOptions o;
  o.nproc_per_node = 3;
  o.nnodes = 2;
  o.node_rank = 1;
  o.master_port = 29123;
  const int rc = dist::launch("/bin/sh", {"-c", "echo $RANK $WORLD_SIZE $LOCAL_RANK $LOCAL_WORLD_SIZE $MASTER_ADDR "
                                                "$MASTER_PORT > " + dir.string() + "/$RANK"}, o);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(slurp(dir / "3"), "3 6 0 3 127.0.0.1 29123\n");
  EXPECT_EQ(slurp(dir / "5"), "5 6 2 3 127.0.0.1 29123\n");
  EXPECT_FALSE(fs::exists(dir / "0"));  // node 0's ranks are not started here
}

TEST(Launcher, AFailedWorkerStopsTheOthersAndIsReported) {
  const auto dir = temp_dir("fail");
  dist::LaunchOptions o;
  o.nproc_per_node = 2;
  o.grace = std::chrono::seconds(1);
  o.quiet = true;
  const auto t0 = std::chrono::steady_clock::now();
  // Rank 1 fails at once; rank 0 would sleep for a minute, writing its pid first.
  const int rc = dist::launch(
      "/bin/sh", {"-c", "if [ $RANK = 1 ]; then exit 3; fi; echo $$ > " + dir.string() + "/pid; exec sleep 60"}, o);
  EXPECT_EQ(rc, 3);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  const auto pid = std::atoi(slurp(dir / "pid").c_str());
  ASSERT_GT(pid, 0);
  EXPECT_NE(::kill(pid, 0), 0) << "rank 0 was left running";  // killed and reaped
}

// --max-restarts: a failed world is started again with the next TORCHELASTIC_RESTART_COUNT;
// after the last restart the first failure's status is returned.
TEST(Launcher, RestartsAFailedWorldAtMostMaxRestartsTimes) {
  const auto dir = temp_dir("restart");
  dist::LaunchOptions o;
  o.nproc_per_node = 2;
  o.grace = std::chrono::seconds(1);
  o.quiet = true;
  o.max_restarts = 2;
  // Every attempt appends its count; rank 1 fails on attempt 0 only.
  const std::string log = (dir / "attempts").string();
  int rc = dist::launch("/bin/sh",
                        {"-c", "echo $RANK:$TORCHELASTIC_RESTART_COUNT >> " + log +
                                   "; if [ $RANK = 1 ] && [ $TORCHELASTIC_RESTART_COUNT = 0 ]; then exit 3; fi"},
                        o);
  EXPECT_EQ(rc, 0);
  const auto attempts = slurp(dir / "attempts");
  EXPECT_NE(attempts.find("1:0"), std::string::npos) << attempts;
  EXPECT_NE(attempts.find("0:1"), std::string::npos) << attempts;
  EXPECT_NE(attempts.find("1:1"), std::string::npos) << attempts;
  EXPECT_EQ(attempts.find(":2"), std::string::npos) << attempts;  // no third attempt

  // Always failing: 3 attempts (2 restarts), then the first failure's status.
  fs::remove(dir / "attempts");
  rc = dist::launch("/bin/sh",
                    {"-c", "echo $TORCHELASTIC_RESTART_COUNT >> " + log + "; exit $((5 + $TORCHELASTIC_RESTART_COUNT))"},
                    o);
  EXPECT_EQ(rc, 5);
  EXPECT_NE(slurp(dir / "attempts").find("2"), std::string::npos);
  EXPECT_EQ(slurp(dir / "attempts").find("3"), std::string::npos);

  o.max_restarts = -1;
  EXPECT_THROW(dist::launch("/bin/true", {}, o), ConfigError);
}

TEST(Launcher, RejectsBadOptions) {
  dist::LaunchOptions o;
  o.nnodes = 2;  // without a port
  EXPECT_THROW(dist::launch("/bin/true", {}, o), ConfigError);
  o.nnodes = 1;
  o.nproc_per_node = 0;
  EXPECT_THROW(dist::launch("/bin/true", {}, o), ConfigError);
}
