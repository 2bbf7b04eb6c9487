#include "wrn/dist/communicator.h"

#include <c10/util/Logging.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef WRN_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <thread>

#include "wrn/core/error.h"

namespace wrn::dist {
namespace {

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

std::shared_ptr<::gloo::transport::Device> gloo_device(const WorldInfo& w, const CommunicatorOptions& o) {
  if (!o.gloo_host.empty()) return c10d::ProcessGroupGloo::createDeviceForHostname(o.gloo_host);
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (is_loopback(w.master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

// A client of the world's store (rank 0's TCPStore, or torchrun's agent's, under the attempt's
// prefix), with its own connection and a short timeout: the heartbeat thread's, and the one a
// failed collective uses to find out which peer stopped answering.
c10::intrusive_ptr<c10d::Store> store_client(const WorldInfo& w, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(w.master_port);
  so.isServer = false;
  so.timeout = timeout;
  so.waitWorkers = false;
  c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(w.master_addr, so);
  const std::string prefix = w.agent_store ? fmt::format("/worker/attempt_{}/", w.restart_count) : "";
  return c10::make_intrusive<c10d::PrefixStore>(prefix + "wrn_heartbeat", store);
}

// Every rank counts up a key in the store every kBeat from a thread of its own, so that when a
// collective fails the survivors can tell a peer that stopped answering (a cut link, a stopped
// or hung process, a dead host) from one that failed because of it: Gloo only says that the
// operation timed out.
constexpr auto kBeat = std::chrono::milliseconds(1000);

class Heartbeat {
 public:
  explicit Heartbeat(const WorldInfo& w) {
    thread_ = std::thread([this, w] {
      int64_t beat = 0;
      c10::intrusive_ptr<c10d::Store> store;
      std::unique_lock<std::mutex> lock(mutex_);
      while (!stop_) {
        lock.unlock();
        try {
          // A short timeout: at the end of a run the store (rank 0's) goes first, and the
          // destructor waits for this attempt to give up.
          if (!store) store = store_client(w, std::chrono::seconds(1));
          const auto text = std::to_string(++beat);
          store->set(std::to_string(w.rank), std::vector<uint8_t>(text.begin(), text.end()));
        } catch (const std::exception&) {
          store.reset();  // the store is out of reach: try a new connection next beat
        }
        lock.lock();
        wake_.wait_for(lock, kBeat, [this] { return stop_; });
      }
    });
  }
  ~Heartbeat() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

struct Communicator::Impl {
  WorldInfo world;
  CommunicatorOptions options;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef WRN_WITH_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;  // CUDA tensors
#endif
  std::vector<std::string> peers;  // "host pid" of each rank, for diagnosing a lost peer
  mutable bool failed = false;     // a collective threw: the NCCL group is aborted, not drained
  std::unique_ptr<Heartbeat> heartbeat;

  std::string who() const { return fmt::format("rank {} of {}", world.rank, world.world_size); }

  // "host H pid P" of rank r, from the exchange at the start.
  std::string where(size_t r) const {
    std::istringstream in(r < peers.size() ? peers[r] : "");
    std::string host;
    long pid = 0;
    if (!(in >> host >> pid)) return "";
    return fmt::format("host {} pid {}", host, pid);
  }

  // The peers whose heartbeat stopped: each rank's count read twice, 2.5 beats apart. "" when
  // every peer is beating (then the failure came from elsewhere), or a sentence when this rank
  // cannot reach the store (its own link is down, or rank 0's host is gone or stopped).
  std::string silent_peers() const {
    if (peers.empty()) return "";
    // The run is failing: c10d's warnings (with C++ backtraces) about store connections closing
    // under it would only bury the one line that says what happened.
    FLAGS_caffe2_log_level = std::max<int>(FLAGS_caffe2_log_level, 2);
    try {
      auto store = store_client(world, std::chrono::seconds(5));
      auto read = [&] {
        std::vector<std::string> beats(peers.size());
        for (size_t r = 0; r < peers.size(); ++r) {
          const auto key = std::to_string(r);
          if (!store->check({key})) continue;
          const auto v = store->get(key);
          beats[r].assign(v.begin(), v.end());
        }
        return beats;
      };
      const auto first = read();
      std::this_thread::sleep_for(kBeat * 5 / 2);
      const auto second = read();
      std::vector<std::string> silent;
      for (size_t r = 0; r < peers.size(); ++r)
        if (static_cast<int>(r) != world.rank && first[r] == second[r])
          silent.push_back(fmt::format("rank {} ({})", r, where(r)));
      if (silent.empty()) return "";
      std::string s;
      for (const auto& x : silent) s += (s.empty() ? "" : ", ") + x;
      return s + (silent.size() == 1 ? " stopped answering (no heartbeat)" : " stopped answering (no heartbeats)");
    } catch (const std::exception&) {
      // Rank 0 on this host and gone by now (it failed first and exited, taking its store along).
      if (!world.agent_store && world.rank != 0) {
        std::istringstream in(peers[0]);
        std::string host;
        long pid = 0;
        if (in >> host >> pid && host == host_name() && pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 &&
            errno == ESRCH)
          return fmt::format("rank 0 (pid {}), which serves the store, has exited", pid);
      }
      return fmt::format("the store at {}:{} ({}) cannot be reached from this rank: its link to that node is down, "
                         "or that node is gone or stopped",
                         world.master_addr, world.master_port,
                         world.agent_store ? "torchrun's agent" : fmt::format("rank 0, {}", where(0)));
    }
  }

  // Which peers are known to be gone: those on this host whose process no longer exists, else
  // those whose heartbeat stopped.
  std::string lost_peers() const {
    const auto here = host_name();
    std::vector<std::string> gone;
    for (size_t r = 0; r < peers.size(); ++r) {
      if (static_cast<int>(r) == world.rank) continue;
      std::istringstream in(peers[r]);
      std::string host;
      long pid = 0;
      if (!(in >> host >> pid) || host != here || pid <= 0) continue;
      if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) gone.push_back(fmt::format("rank {} (pid {})", r, pid));
    }
    if (gone.empty()) {
      const auto silent = silent_peers();
      return silent.empty() ? "a peer rank died or did not answer within the timeout" : silent;
    }
    std::string s;
    for (const auto& g : gone) s += (s.empty() ? "" : ", ") + g;
    return s + (gone.size() == 1 ? " is gone" : " are gone");
  }

  [[noreturn]] void fail(const std::string& op, const std::exception& e) const {
    failed = true;
    throw PeerError(fmt::format("distributed {}: {} failed: {} (distributed.timeout {} s); {}", who(), op,
                                lost_peers(), options.timeout.count() / 1000.0, one_line_message(e)));
  }

  // Waits for a collective. Gloo: at most distributed.timeout. NCCL (CUDA tensors): the plain
  // wait, which only orders the current stream; a timed wait there would busy-wait the CPU and
  // abort the communicator on expiry, and the process group's own watchdog already enforces
  // the timeout given at its creation.
  void wait(c10d::Work& work, bool nccl) const {
    if (nccl) {
      work.wait();
    } else {
      work.wait(options.timeout);
    }
  }

  // Runs a collective and waits for it; any c10d/Gloo failure becomes a PeerError.
  template <class Start>
  void run(const std::string& op, Start start, bool nccl = false) {
    try {
      auto work = start();
      wait(*work, nccl);
    } catch (const PeerError&) {
      throw;
    } catch (const std::exception& e) {
      fail(op, e);
    }
  }

  template <class Op>
  c10::intrusive_ptr<c10d::Work> on(const torch::Tensor& t, Op op) {
#ifdef WRN_WITH_NCCL
    if (t.is_cuda()) {
      if (!nccl) {
        auto o = c10d::ProcessGroupNCCL::Options::create();
        o->timeout = options.timeout;
        nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(
            c10::make_intrusive<c10d::PrefixStore>("nccl", store), world.rank, world.world_size, o);
      }
      return op(*nccl);
    }
#endif
    WRN_CHECK(!t.is_cuda(), "distributed: a CUDA tensor, but this build has no NCCL (configure with -DWRN_WITH_NCCL=ON "
                            "against a CUDA LibTorch)");
    return op(*gloo);
  }
};

struct PendingAllreduce::Impl {
  c10::intrusive_ptr<c10d::Work> work;
  const Communicator::Impl* comm = nullptr;
  bool nccl = false;  // a CUDA tensor's collective
};

void PendingAllreduce::wait() {
  if (!impl_ || !impl_->work) return;
  try {
    impl_->comm->wait(*impl_->work, impl_->nccl);
  } catch (const std::exception& e) {
    impl_->work.reset();
    impl_->comm->fail("allreduce", e);
  }
  impl_->work.reset();
}

Communicator::Communicator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Communicator::~Communicator() {
#if defined(WRN_WITH_NCCL)
  // LibTorch 2.x warns that the process group was not destroyed, and aborts the communicator,
  // when a ProcessGroupNCCL is destroyed without shutdown(). shutdown() waits for queued work,
  // which after a failed collective may never finish: then abort().
  if (impl_ && impl_->nccl) {
    try {
      if (impl_->failed) {
        impl_->nccl->abort();
      } else {
        impl_->nccl->shutdown();
      }
    } catch (const std::exception&) {  // a destructor: the run is over either way
    }
  }
#endif
}

std::shared_ptr<Communicator> Communicator::connect(const WorldInfo& world, const CommunicatorOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->world = world;
  impl->options = options;
  const std::string where = fmt::format("{}:{}", world.master_addr, world.master_port);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(world.master_port);
    so.isServer = !world.agent_store && world.rank == 0;
    so.timeout = options.timeout;
    so.waitWorkers = false;
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(world.master_addr, so);
    // torchrun's agent serves the store; its workers live under this prefix (torch.distributed's
    // env:// rendezvous with TORCHELASTIC_USE_AGENT_STORE).
    if (world.agent_store)
      store = c10::make_intrusive<c10d::PrefixStore>(fmt::format("/worker/attempt_{}", world.restart_count), store);
    impl->store = store;
    auto o = c10d::ProcessGroupGloo::Options::create(options.timeout);
    o->devices.push_back(gloo_device(world, options));
    impl->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(store, world.rank, world.world_size, o);
  } catch (const std::exception& e) {
    throw PeerError(fmt::format("distributed rank {} of {}: could not join the world at {} within {} s "
                                "(MASTER_ADDR/MASTER_PORT; rank 0 serves the store there): {}",
                                world.rank, world.world_size, where, options.timeout.count() / 1000.0,
                                one_line_message(e)));
  }
  auto comm = std::make_shared<Communicator>(std::move(impl));
  comm->impl_->peers = comm->all_gather_bytes(fmt::format("{} {}", host_name(), static_cast<long>(::getpid())));
  comm->impl_->heartbeat = std::make_unique<Heartbeat>(world);
  return comm;
}

int Communicator::rank() const { return impl_->world.rank; }
int Communicator::local_rank() const { return impl_->world.local_rank; }
int Communicator::size() const { return impl_->world.world_size; }
std::chrono::milliseconds Communicator::timeout() const { return impl_->options.timeout; }
std::string Communicator::who() const { return impl_->who(); }

void Communicator::allreduce_sum(torch::Tensor& t) { allreduce_sum_async(t).wait(); }

PendingAllreduce Communicator::allreduce_sum_async(const torch::Tensor& t) {
  WRN_CHECK(t.is_contiguous(), "distributed allreduce: the tensor must be contiguous");
  auto p = std::make_shared<PendingAllreduce::Impl>();
  p->comm = impl_.get();
  p->nccl = t.is_cuda();
  try {
    std::vector<at::Tensor> v{t};
    p->work = impl_->on(t, [&](auto& pg) { return pg.allreduce(v, c10d::AllreduceOptions()); });
  } catch (const std::exception& e) {
    impl_->fail("allreduce", e);
  }
  return PendingAllreduce(p);
}

void Communicator::broadcast(torch::Tensor& t, int root) {
  WRN_CHECK(t.is_contiguous(), "distributed broadcast: the tensor must be contiguous");
  std::vector<at::Tensor> v{t};
  c10d::BroadcastOptions bo;
  bo.rootRank = root;
  impl_->run(
      "broadcast", [&] { return impl_->on(t, [&](auto& pg) { return pg.broadcast(v, bo); }); }, t.is_cuda());
}

std::vector<std::string> Communicator::all_gather_bytes(const std::string& bytes) {
  const int w = size();
  // Gloo's allgather wants equal sizes: the sizes first, then the bytes padded to the largest.
  auto n = torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kLong);
  std::vector<std::vector<at::Tensor>> sizes_out(1);
  for (int r = 0; r < w; ++r) sizes_out[0].push_back(torch::empty({1}, torch::kLong));
  std::vector<at::Tensor> sizes_in{n};
  impl_->run("all-gather", [&] { return impl_->gloo->allgather(sizes_out, sizes_in); });
  int64_t longest = 0;
  for (auto& s : sizes_out[0]) longest = std::max(longest, s.item<int64_t>());
  auto mine = torch::zeros({std::max<int64_t>(longest, 1)}, torch::kUInt8);
  std::memcpy(mine.data_ptr(), bytes.data(), bytes.size());
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < w; ++r) out[0].push_back(torch::empty_like(mine));
  std::vector<at::Tensor> in{mine};
  impl_->run("all-gather", [&] { return impl_->gloo->allgather(out, in); });
  std::vector<std::string> result;
  for (int r = 0; r < w; ++r)
    result.emplace_back(static_cast<const char*>(out[0][r].data_ptr()),
                        static_cast<size_t>(sizes_out[0][r].item<int64_t>()));
  return result;
}

std::string Communicator::broadcast_bytes(const std::string& bytes) {
  auto n = torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kLong);
  broadcast(n);
  auto buf = torch::zeros({std::max<int64_t>(n.item<int64_t>(), 1)}, torch::kUInt8);
  if (rank() == 0) std::memcpy(buf.data_ptr(), bytes.data(), bytes.size());
  broadcast(buf);
  return std::string(static_cast<const char*>(buf.data_ptr()), static_cast<size_t>(n.item<int64_t>()));
}

void Communicator::barrier() {
  // An allreduce of one value: a barrier that honours the timeout like every other collective.
  auto t = torch::zeros({1});
  allreduce_sum(t);
}

void check_same_on_all_ranks(Communicator& comm, const std::string& value, const std::string& what) {
  const auto all = comm.all_gather_bytes(value);
  std::string differ;
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0]) differ += fmt::format("{}{}", differ.empty() ? "" : ", ", r);
  WRN_CHECK(differ.empty(), "distributed: {} differs between rank 0 and rank(s) {}: every rank must be started with "
                            "the same command and files", what, differ);
}

bool nccl_compiled_in() {
#ifdef WRN_WITH_NCCL
  return true;
#else
  return false;
#endif
}

}  // namespace wrn::dist
