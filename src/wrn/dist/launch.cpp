#include "wrn/dist/launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>

#include "wrn/core/error.h"

namespace wrn::dist {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  WRN_CHECK(fd >= 0, "cannot open a socket to find a free port: {}", std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  WRN_CHECK(ok, "cannot find a free TCP port: {}", std::strerror(errno));
  return ntohs(a.sin_port);
}

namespace {

std::string describe(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return fmt::format("was killed by signal {} ({})", sig, strsignal(sig));
  }
  return fmt::format("exited with status {}", WEXITSTATUS(status));
}

int exit_code(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

// One attempt: starts the world's local workers and waits for all of them. `interrupted` is
// set when SIGINT/SIGTERM/SIGHUP arrived (the run was stopped on purpose: no restart).
int run_world(const std::string& program, const std::vector<std::string>& args, const LaunchOptions& o, int port,
              int restart, bool& interrupted);

}  // namespace

int launch(const std::string& program, const std::vector<std::string>& args, const LaunchOptions& o) {
  WRN_CHECK(o.max_restarts >= 0 && o.max_restarts <= 1000, "--max-restarts {}: expected 0 to 1000", o.max_restarts);
  WRN_CHECK(o.nproc_per_node >= 1 && o.nproc_per_node <= 1024, "--nproc-per-node {}: expected 1 to 1024",
            o.nproc_per_node);
  WRN_CHECK(o.nnodes >= 1 && o.nnodes <= 65536, "--nnodes {}: expected 1 to 65536", o.nnodes);
  WRN_CHECK(o.node_rank >= 0 && o.node_rank < o.nnodes, "--node-rank {}: expected 0 to {} (--nnodes {})", o.node_rank,
            o.nnodes - 1, o.nnodes);
  WRN_CHECK(o.master_port >= 0 && o.master_port <= 65535, "--master-port {}: expected 1 to 65535", o.master_port);
  WRN_CHECK(o.master_port > 0 || o.nnodes == 1,
            "--master-port is needed with --nnodes {}: every node must use the same one", o.nnodes);
  int first_failure = 0;
  for (int restart = 0;; ++restart) {
    // One node: a fresh free port each attempt (the last one may still be in TIME_WAIT).
    const int port = o.master_port > 0 ? o.master_port : free_port();
    bool interrupted = false;
    const int result = run_world(program, args, o, port, restart, interrupted);
    if (result == 0) return 0;
    if (interrupted) return result;  // stopped on purpose (130 / 143): no restart
    if (restart == 0) first_failure = result;
    if (restart >= o.max_restarts) {
      if (restart > 0 && !o.quiet)
        std::fprintf(stderr, "wrn: the world failed %d times (--max-restarts %d); giving up\n", restart + 1,
                     o.max_restarts);
      return first_failure;
    }
    if (!o.quiet)
      std::fprintf(stderr, "wrn: restarting every worker (restart %d of at most %d, --max-restarts)\n", restart + 1,
                   o.max_restarts);
  }
}

namespace {

int run_world(const std::string& program, const std::vector<std::string>& args, const LaunchOptions& o, int port,
              int restart, bool& interrupted) {
  const int world = o.nproc_per_node * o.nnodes;

  // The signals are taken synchronously (sigtimedwait) so none is lost between the checks.
  sigset_t watched, previous;
  sigemptyset(&watched);
  sigaddset(&watched, SIGCHLD);
  sigaddset(&watched, SIGINT);
  sigaddset(&watched, SIGTERM);
  sigaddset(&watched, SIGHUP);
  sigprocmask(SIG_BLOCK, &watched, &previous);

  std::vector<std::string> argv_s{program};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t parent = ::getpid();
  std::map<pid_t, int> running;  // pid -> global rank
  for (int local = 0; local < o.nproc_per_node; ++local) {
    const int rank = o.node_rank * o.nproc_per_node + local;
    const pid_t pid = ::fork();
    if (pid < 0) {
      for (const auto& [p, r] : running) ::kill(p, SIGKILL);
      for (const auto& [p, r] : running) ::waitpid(p, nullptr, 0);
      sigprocmask(SIG_SETMASK, &previous, nullptr);
      throw Error(fmt::format("cannot start rank {}: fork failed: {}", rank, std::strerror(errno)));
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the launcher
      if (::getppid() != parent) _exit(137);
      auto set = [](const char* k, const std::string& v) { ::setenv(k, v.c_str(), 1); };
      set("RANK", std::to_string(rank));
      set("WORLD_SIZE", std::to_string(world));
      set("LOCAL_RANK", std::to_string(local));
      set("LOCAL_WORLD_SIZE", std::to_string(o.nproc_per_node));
      set("GROUP_RANK", std::to_string(o.node_rank));
      set("MASTER_ADDR", o.master_addr);
      set("MASTER_PORT", std::to_string(port));
      ::unsetenv("TORCHELASTIC_USE_AGENT_STORE");
      set("TORCHELASTIC_RESTART_COUNT", std::to_string(restart));
      sigprocmask(SIG_SETMASK, &previous, nullptr);
      ::execv(program.c_str(), argv.data());
      std::fprintf(stderr, "wrn: error: cannot run %s for rank %d: %s\n", program.c_str(), rank, std::strerror(errno));
      _exit(127);
    }
    running[pid] = rank;
  }

  int result = 0;
  bool failing = false, killed = false;
  int signals = 0;
  timespec deadline{};
  auto now = [] {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t;
  };
  auto past = [&](const timespec& t) {
    const auto n = now();
    return n.tv_sec > t.tv_sec || (n.tv_sec == t.tv_sec && n.tv_nsec >= t.tv_nsec);
  };
  while (!running.empty()) {
    // Reap whoever has ended.
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      auto it = running.find(pid);
      if (it == running.end()) continue;
      const int rank = it->second;
      running.erase(it);
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (!ok && result == 0) {
        result = exit_code(status);
        if (!o.quiet)
          std::fprintf(stderr, "wrn: rank %d (pid %d) %s%s\n", rank, static_cast<int>(pid), describe(status).c_str(),
                       running.empty() || signals > 0 ? "" : "; stopping the other ranks");
      }
      if (!ok && !failing && signals == 0) {
        failing = true;
        deadline = now();
        deadline.tv_sec += std::max<long>(1, o.grace.count() / 1000);
      }
    }
    if (running.empty()) break;
    if (failing && !killed && past(deadline)) {
      for (const auto& [p, r] : running) ::kill(p, SIGKILL);
      killed = true;
    }
    timespec wait{0, 200 * 1000 * 1000};
    siginfo_t info{};
    const int sig = sigtimedwait(&watched, &info, &wait);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
      ++signals;
      // First signal: the workers checkpoint and stop; a second: they end now.
      for (const auto& [p, r] : running) ::kill(p, signals == 1 ? sig : SIGKILL);
    }
  }
  sigprocmask(SIG_SETMASK, &previous, nullptr);
  interrupted = signals > 0;
  return result;
}

}  // namespace

}  // namespace wrn::dist
