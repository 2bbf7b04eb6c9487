// Two hosts in one machine (issue 25): two network namespaces made by the test, joined by a
// veth pair with addresses of its own (10.231.<pid>.1 and .2), each node's wrn launcher started
// inside its namespace (and a host name of its own, wrn-node0/1, in a UTS namespace) with
// GLOO_SOCKET_IFNAME naming its end of the pair, --nnodes 2:
//  (a) 2 nodes x 1 rank with sync BN equal one process within the floating-point floor (the
//      same process at 1 vs 2 threads);
//  (b) the link cut mid-epoch: both nodes exit non-zero within distributed.timeout + a margin,
//      nothing is left running, node 0's last.ckpt is whole, and `wrn resume` on both nodes
//      (link restored) finishes the run;
//  (c) a SIGSTOP'd rank (hung, not dead) on node 1 of 2 x 2 ranks ends the same way.
// Needs root (network namespaces) and Debian's dataset-fashion-mnist; skipped, saying why,
// without either.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "e2e_util.h"
#include "wrn/io/checkpoint.h"
#include "wrn/report/metrics_log.h"

namespace fs = std::filesystem;
using namespace wrn;
using wrn::test::children_of;
using wrn::test::slurp;
using wrn::test::wait_exit;

namespace {

const char* kData = "/usr/share/datasets/fashion-mnist";
bool have_data() { return fs::exists(fs::path(kData) / "train-images-idx3-ubyte.gz"); }
std::string scratch(const std::string& name) { return wrn::test::scratch("wrn_net_", name); }

int sh(const std::string& cmd) {
  const int status = std::system((cmd + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Two namespaces and the veth pair between them; removed (with everything in them) at the end.
struct TwoHosts {
  std::string ns[2], dev[2], addr[2];
  bool ok = false;
  TwoHosts() {
    const int id = static_cast<int>(::getpid() % 200) + 20;
    for (int i = 0; i < 2; ++i) {
      ns[i] = fmt::format("wrn{}n{}", ::getpid(), i);
      dev[i] = fmt::format("wv{}{}", ::getpid() % 100000, i);
      addr[i] = fmt::format("10.231.{}.{}", id, i + 1);
    }
    ok = sh(fmt::format("ip netns add {0} && ip netns add {1} && ip link add {2} type veth peer name {3} && "
                        "ip link set {2} netns {0} && ip link set {3} netns {1} && "
                        "ip -n {0} addr add {4}/24 dev {2} && ip -n {1} addr add {5}/24 dev {3} && "
                        "ip -n {0} link set lo up && ip -n {1} link set lo up && "
                        "ip -n {0} link set {2} up && ip -n {1} link set {3} up",
                        ns[0], ns[1], dev[0], dev[1], addr[0], addr[1])) == 0;
  }
  ~TwoHosts() { sh(fmt::format("ip netns del {}; ip netns del {}", ns[0], ns[1])); }
  void link(bool up) { sh(fmt::format("ip -n {} link set {} {}", ns[0], dev[0], up ? "up" : "down")); }

  // `wrn ARGS` on node `node` (rank-0 address addr[0], port `port`), output to `log`.
  pid_t spawn(int node, std::vector<std::string> args, int port, int nproc, const std::string& log) const {
    const std::vector<std::string> net{"--nnodes", "2", "--node-rank", std::to_string(node), "--nproc-per-node",
                                       std::to_string(nproc), "--master-addr", addr[0], "--master-port",
                                       std::to_string(port)};
    args.insert(args.begin() + 1, net.begin(), net.end());
    const pid_t pid = fork();
    if (pid == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      // Its own host name too (a UTS namespace), as on two machines.
      std::vector<std::string> all{"/usr/sbin/ip", "netns", "exec", ns[node], "unshare", "--uts", "sh", "-c",
                                   fmt::format("hostname wrn-node{} && exec env GLOO_SOCKET_IFNAME={} \"$@\"", node,
                                               dev[node]),
                                   "sh", WRN_TOOL_PATH};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    return pid;
  }
};

std::vector<std::string> recipe(const std::string& out, int images, int epochs) {
  return {"train", "--precision", "fp32", "--preset", "demo", "--model", "wrn-10-1", "--set",
          "optimizer.lr=0.02", "--set", "model.settings.dropout=0", "--set", "data.augment.flip=false",
          "--set", "data.augment.pad=0", "--set", fmt::format("data.limit_train={}", images), "--set",
          "data.limit_test=200", "--batch-size", "128", "--set", "model.sync_bn=true", "--set",
          "checkpoint.every_seconds=0", "--set", "checkpoint.every_steps=2", "--set", "channels_last=false",
          "--set", "distributed.timeout=15", "--epochs", std::to_string(epochs), "--seed", "5", "--data", kData,
          "--threads", "1", "--quiet", "--out", out};
}

int free_port() {  // a port both namespaces may use: each has its own port space
  return 20000 + static_cast<int>(::getpid() % 20000);
}

bool wait_for_step(pid_t pid, const std::string& out, int step) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return false;
    try {
      auto meta = nlohmann::json::parse(io::load_checkpoint(out + "/checkpoints/last.ckpt").meta_json);
      if (meta.at("global_step").get<int>() >= step) return true;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// Exit status, or -1 when it was still running after `limit` (then it is SIGKILLed and reaped).
int end_within(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGKILL);
  wait_exit(pid);
  return -1;
}

// distributed.timeout (15 s) and a margin: how long a node may take to give up.
constexpr std::chrono::seconds kGiveUp(15 + 45);

class MultiHost : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_data()) GTEST_SKIP() << "Fashion-MNIST not installed (dataset-fashion-mnist)";
    if (::geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
    hosts_ = std::make_unique<TwoHosts>();
    if (!hosts_->ok) GTEST_SKIP() << "cannot create two network namespaces joined by a veth pair here (ip netns add)";
  }
  std::unique_ptr<TwoHosts> hosts_;
};

}  // namespace

TEST_F(MultiHost, TwoNodesEqualOneProcessWithinTheFloatingPointFloor) {
  const auto one = scratch("one"), one_t2 = scratch("one_t2"), node0 = scratch("node0"), node1 = scratch("node1");
  auto a1 = recipe(one, 1280, 1), a3 = recipe(one_t2, 1280, 1);
  a3[a3.size() - 4] = "2";  // --threads 2: the summation-order floor
  ASSERT_EQ(wrn::test::run(a1, one + ".log"), 0) << slurp(one + ".log");
  ASSERT_EQ(wrn::test::run(a3, one_t2 + ".log"), 0) << slurp(one_t2 + ".log");
  const int port = free_port();
  const pid_t p0 = hosts_->spawn(0, recipe(node0, 1280, 1), port, 1, node0 + ".log");
  const pid_t p1 = hosts_->spawn(1, recipe(node1, 1280, 1), port, 1, node1 + ".log");
  ASSERT_EQ(wait_exit(p0), 0) << slurp(node0 + ".log");
  ASSERT_EQ(wait_exit(p1), 0) << slurp(node1 + ".log");
  auto a = io::load_checkpoint(one + "/checkpoints/last.ckpt"), b = io::load_checkpoint(node0 + "/checkpoints/last.ckpt");
  auto c = io::load_checkpoint(one_t2 + "/checkpoints/last.ckpt");
  EXPECT_EQ(nlohmann::json::parse(b.meta_json).at("world_size"), 2);
  const double floor = wrn::test::relative_distance(a.model, c.model),
               nodes = wrn::test::relative_distance(a.model, b.model);
  EXPECT_LT(nodes, std::max(4 * floor, 1e-5)) << "1 vs 2 threads (the floor): " << floor;
  EXPECT_FALSE(fs::exists(node1 + "/checkpoints")) << "only rank 0 writes";
}

TEST_F(MultiHost, ACutLinkEndsBothNodesAndBothResume) {
  const auto node0 = scratch("cut0"), node1 = scratch("cut1");
  const int port = free_port() + 1;
  const pid_t p0 = hosts_->spawn(0, recipe(node0, 2560, 2), port, 1, node0 + ".log");
  const pid_t p1 = hosts_->spawn(1, recipe(node1, 2560, 2), port, 1, node1 + ".log");
  ASSERT_TRUE(wait_for_step(p0, node0, 4)) << slurp(node0 + ".log");
  const auto workers = children_of(p0), workers1 = children_of(p1);
  hosts_->link(false);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_GT(end_within(p0, kGiveUp), 0) << slurp(node0 + ".log");
  EXPECT_GT(end_within(p1, kGiveUp), 0) << slurp(node1 + ".log");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, kGiveUp);
  for (auto w : workers) EXPECT_NE(::kill(w, 0), 0) << "worker " << w << " left running";
  for (auto w : workers1) EXPECT_NE(::kill(w, 0), 0) << "worker " << w << " left running";
  // Node 0 names the peer that went silent; node 1 says it lost the store on node 0.
  const auto log0 = slurp(node0 + ".log"), log1 = slurp(node1 + ".log");
  EXPECT_NE(log0.find("distributed rank 0 of 2: allreduce failed: rank 1 (host wrn-node1 pid "), std::string::npos)
      << log0;
  EXPECT_NE(log0.find("stopped answering (no heartbeat)"), std::string::npos) << log0;
  EXPECT_NE(log1.find(fmt::format("distributed rank 1 of 2: allreduce failed: the store at {}:{} (rank 0, host wrn-node0",
                                  hosts_->addr[0], port)),
            std::string::npos)
      << log1;
  EXPECT_NO_THROW(io::load_checkpoint(node0 + "/checkpoints/last.ckpt"));

  hosts_->link(true);
  const pid_t r0 = hosts_->spawn(0, {"resume", node0, "--quiet"}, port + 2, 1, node0 + ".resume.log");
  const pid_t r1 = hosts_->spawn(1, {"resume", node1, "--quiet"}, port + 2, 1, node1 + ".resume.log");
  EXPECT_EQ(wait_exit(r0), 0) << slurp(node0 + ".resume.log");
  EXPECT_EQ(wait_exit(r1), 0) << slurp(node1 + ".resume.log");
  EXPECT_EQ(train::read_metrics(node0 + "/metrics.jsonl").size(), 2u);
}

TEST_F(MultiHost, AStoppedRankEndsBothNodes) {
  const auto node0 = scratch("stop0"), node1 = scratch("stop1");
  const int port = free_port() + 3;
  auto args0 = recipe(node0, 2560, 2), args1 = recipe(node1, 2560, 2);
  const pid_t p0 = hosts_->spawn(0, args0, port, 2, node0 + ".log");
  const pid_t p1 = hosts_->spawn(1, args1, port, 2, node1 + ".log");
  ASSERT_TRUE(wait_for_step(p0, node0, 2)) << slurp(node0 + ".log");
  const auto workers0 = children_of(p0), workers1 = children_of(p1);
  ASSERT_EQ(workers1.size(), 2u);
  ::kill(workers1[1], SIGSTOP);  // hung, not dead
  EXPECT_GT(end_within(p0, kGiveUp), 0) << slurp(node0 + ".log");
  EXPECT_GT(end_within(p1, kGiveUp), 0) << slurp(node1 + ".log");
  for (auto w : workers0) EXPECT_NE(::kill(w, 0), 0) << "worker " << w << " left running";
  for (auto w : workers1) EXPECT_NE(::kill(w, 0), 0) << "worker " << w << " left running";
  EXPECT_NO_THROW(io::load_checkpoint(node0 + "/checkpoints/last.ckpt"));
  // Rank 0 (which serves the store) names the stopped rank. (Node 1's ranks name it too, unless
  // rank 0 has exited with its store before they looked: then they say that.)
  EXPECT_NE(slurp(node0 + ".log").find("distributed rank 0 of 4: allreduce failed: rank 3 (host "), std::string::npos)
      << slurp(node0 + ".log");
  EXPECT_EQ(slurp(node1 + ".log").find("frame #"), std::string::npos) << "a C++ backtrace in the log";
}
