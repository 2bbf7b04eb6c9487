// Helpers of the end-to-end tests that run the built `wrn` (WRN_TOOL_PATH): scratch
// directories, spawning the tool with its output in a log, and comparing two runs.
#pragma once

#include <cmath>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "wrn/core/atomic_file.h"
#include "wrn/io/state_dict.h"
#include "wrn/report/metrics_log.h"

namespace wrn::test {

// A fresh <tmp>/<prefix><pid>/<name> path (removed if it exists; its parent created).
inline std::string scratch(const std::string& prefix, const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / (prefix + std::to_string(::getpid())) / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d.parent_path());
  return d.string();
}

// Starts the tool with `args`, stdout+stderr to `log`; returns the pid.
inline pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    std::string tool = WRN_TOOL_PATH;
    argv.push_back(tool.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(tool.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

// The exit status, or 128 + the signal that ended it.
inline int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

inline int run(const std::vector<std::string>& args, const std::string& log) { return wait_exit(spawn(args, log)); }

inline std::string slurp(const std::string& path) {
  return std::filesystem::exists(path) ? wrn::read_file(path) : "";
}

// Metrics without the wall-clock fields, which differ between any two runs.
inline std::vector<std::vector<double>> comparable(const std::vector<train::EpochMetrics>& ms) {
  std::vector<std::vector<double>> out;
  // An epoch without evaluation (eval_every) has NaN test numbers: -1 here, so equal runs compare equal.
  auto v = [](double x) { return std::isnan(x) ? -1.0 : x; };
  for (const auto& m : ms)
    out.push_back({double(m.epoch), v(m.lr), v(m.train_loss), v(m.train_top1_err), v(m.test_loss), v(m.test_top1_err),
                   v(m.test_top5_err)});
  return out;
}

inline void expect_bitwise_equal(const io::StateDict& a, const io::StateDict& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].name, b[i].name) << what;
    EXPECT_TRUE(a[i].value.sizes() == b[i].value.sizes() && torch::equal(a[i].value, b[i].value))
        << what << ": " << a[i].name << " differs";
  }
}

// ||b - a|| / ||a|| over the trained floating-point tensors of two state dicts (BatchNorm's
// running statistics left out): single BN biases (sums of nearly cancelling gradients) move by
// far more than the whole vector, so a bound is put on the whole vector.
inline double relative_distance(const io::StateDict& a, const io::StateDict& b) {
  EXPECT_EQ(a.size(), b.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (!a[i].value.is_floating_point() || a[i].name.find("running_") != std::string::npos) continue;
    num += (b[i].value.to(torch::kDouble) - a[i].value.to(torch::kDouble)).square().sum().item<double>();
    den += a[i].value.to(torch::kDouble).square().sum().item<double>();
  }
  return std::sqrt(num / den);
}

// The pids of a process's children (a launcher's workers).
inline std::vector<pid_t> children_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<pid_t> out;
  pid_t p;
  while (in >> p) out.push_back(p);
  return out;
}

}  // namespace wrn::test
