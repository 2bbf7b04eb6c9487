// The tool explains itself: did-you-mean for options, defaults and an example in --help,
// what --version reports, `wrn models --json` (fast, every registry name) and the bash
// completion script (checked by running it in bash).
#include <gtest/gtest.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include <fmt/format.h>

#include "run_tool.h"
#include "wrn/core/text.h"
#include "wrn/models/registry.h"

namespace {

using wrn::testing::run_tool;
namespace fs = std::filesystem;

size_t lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

TEST(CliOptions, UnknownOptionGetsDidYouMean) {
  struct Case {
    std::string args, message;
  };
  for (const auto& c : std::vector<Case>{
           {"train --epoch 3", "wrn: error: unknown option '--epoch' for 'wrn train' (did you mean '--epochs'?)"},
           {"info wrn-16-4 --jsn", "wrn: error: unknown option '--jsn' for 'wrn info' (did you mean '--json'?)"},
           {"models --jsno", "wrn: error: unknown option '--jsno' for 'wrn models' (did you mean '--json'?)"},
           {"--verison", "wrn: error: unknown option '--verison' for 'wrn' (did you mean '--version'?)"},
           {"info wrn-16-4 extra", "wrn: error: The following argument was not expected: extra (see 'wrn info --help')"},
           {"bench infer --model wrn-16-4 --iter=3",
            "wrn: error: unknown option '--iter' for 'wrn bench infer' (did you mean '--iters'?)"}}) {
    auto r = run_tool(c.args);
    EXPECT_EQ(r.status, 2) << c.args << ": " << r.out;
    EXPECT_EQ(r.out.rfind(c.message, 0), 0u) << c.args << ": " << r.out;
    EXPECT_EQ(lines(r.out), 1u) << c.args << ": " << r.out;
  }
  // Nothing close: no suggestion, still one line naming the option and the command's help.
  auto r = run_tool("models --frobnicate-everything");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("unknown option '--frobnicate-everything' for 'wrn models' (see 'wrn models --help')"),
            std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("did you mean"), std::string::npos) << r.out;
  EXPECT_EQ(lines(r.out), 1u) << r.out;
}

TEST(CliHelp, ShowsDefaultsAndAnExample) {
  auto r = run_tool("predict --help");
  ASSERT_EQ(r.status, 0) << r.out;
  // The option, its type and its default on one line ("--top INT:POSITIVE=5").
  auto line_of = [](const std::string& text, const std::string& option) {
    const auto at = text.find(option);
    if (at == std::string::npos) return std::string();
    const auto begin = text.rfind('\n', at) + 1;
    return text.substr(begin, text.find('\n', at) - begin);
  };
  EXPECT_NE(line_of(r.out, "--top").find("=5"), std::string::npos) << r.out;
  EXPECT_NE(line_of(r.out, "--batch").find("=32"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Example:\n  wrn predict --checkpoint "), std::string::npos) << r.out;

  r = run_tool("export --help");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(line_of(r.out, "--opset").find("=13"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--force"), std::string::npos) << r.out;
  // An empty string or list shows no default (CLI11 would print "--set TEXT ...=[]").
  EXPECT_EQ(line_of(r.out, "--input").find("TEXT="), std::string::npos) << r.out;
  const auto set_line = line_of(run_tool("train --help").out, "--set");
  EXPECT_NE(set_line.find("--set TEXT ..."), std::string::npos) << set_line;
  EXPECT_EQ(set_line.find("=[]"), std::string::npos) << set_line;

  // Every command (and the top level) has an example of its own, not the top level's.
  r = run_tool("--help");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("Examples:\n  wrn models"), std::string::npos) << r.out;
  for (const std::string cmd : {"train", "eval", "resume", "sweep", "predict", "export", "import", "info", "models", "bench",
                                "bench infer", "bench step", "bench data", "download", "completion"}) {
    auto h = run_tool(cmd + " --help");
    EXPECT_EQ(h.status, 0) << cmd;
    const auto at = h.out.find("Example");
    ASSERT_NE(at, std::string::npos) << cmd << ": " << h.out;
    EXPECT_NE(h.out.find("  wrn " + cmd, at), std::string::npos) << cmd << ": " << h.out;
  }
}

TEST(CliVersion, ReportsTheStack) {
  auto r = run_tool("--version");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto v = wrn::split(r.out, '\n');
  ASSERT_GE(v.size(), 6u) << r.out;
  EXPECT_EQ(v[0], "wrn 0.1.0");
  EXPECT_EQ(v[1].rfind(std::string("LibTorch ") + TORCH_VERSION + " (", 0), 0u) << r.out;
  EXPECT_EQ(v[2].rfind("CUDA: ", 0), 0u) << r.out;
  EXPECT_NE(v[2].find("; cuDNN: "), std::string::npos) << r.out;
  EXPECT_EQ(v[3].rfind("CPU: ", 0), 0u) << r.out;
  for (const char* f : {"avx2 ", "avx512f ", "avx512_bf16 ", "amx_bf16 "}) EXPECT_NE(v[3].find(f), std::string::npos) << f;
  EXPECT_EQ(v[4].rfind("BLAS: ATen built with ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("\nThreads: OpenMP"), std::string::npos) << r.out;
#if defined(__x86_64__)
  // What cpuid says must agree with the kernel's view in /proc/cpuinfo.
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, flags;
  while (std::getline(cpuinfo, line))
    if (line.rfind("flags", 0) == 0) {
      flags = line + " ";
      break;
    }
  if (!flags.empty()) {
    const std::map<std::string, std::string> ours_to_kernel = {
        {"avx2", " avx2 "}, {"avx512f", " avx512f "}, {"avx512_bf16", " avx512_bf16 "}, {"amx_bf16", " amx_bf16 "}};
    for (const auto& [ours, kernel] : ours_to_kernel) {
      const bool kernel_has = flags.find(kernel) != std::string::npos;
      EXPECT_NE(v[3].find(ours + (kernel_has ? " yes" : " no")), std::string::npos) << ours << ": " << v[3];
    }
  }
#endif
}

TEST(CliModels, JsonListsEveryRegistryNameWithExactCounts) {
  const auto start = std::chrono::steady_clock::now();
  auto r = run_tool("models --json");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& m : j) by_name[m.at("name").get<std::string>()] = m;
  const auto registry = wrn::models::list_models();
  EXPECT_EQ(by_name.size(), registry.size());
  for (const auto& info : registry) {
    ASSERT_TRUE(by_name.count(info.name)) << info.name;
    const auto& m = by_name[info.name];
    EXPECT_EQ(m.at("family"), info.family);
    EXPECT_EQ(m.at("classes"), info.default_classes);
    EXPECT_EQ(m.at("input"), (std::vector<int64_t>{info.default_input.channels, info.default_input.height,
                                                    info.default_input.width}));
  }
  // The parameter counts equal the reference rows taken at the models' defaults.
  std::ifstream in(std::string(WRN_SOURCE_DIR) + "/tests/golden/param_counts.tsv");
  std::string line;
  int checked = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto f = wrn::split(line, '\t');
    if (!by_name.count(f[0])) continue;
    const auto& m = by_name[f[0]];
    const auto& in_shape = m.at("input");
    const std::string input = fmt::format("{}x{}x{}", in_shape[0].get<int64_t>(), in_shape[1].get<int64_t>(),
                                          in_shape[2].get<int64_t>());
    if (std::to_string(m.at("classes").get<int64_t>()) != f[1] || input != f[2]) continue;
    EXPECT_EQ(m.at("params").get<int64_t>(), std::stoll(f[3])) << f[0];
    ++checked;
  }
  EXPECT_GE(checked, 20);
  // Counting builds no weights: 36 models, ~0.93e9 parameters, took 10 s with real ones.
  EXPECT_LT(seconds, 10.0);

  // The table prints the same counts.
  auto t = run_tool("models");
  ASSERT_EQ(t.status, 0);
  EXPECT_NE(t.out.find(std::to_string(by_name["wide_resnet101_2"]["params"].get<int64_t>())), std::string::npos);
}

TEST(CliCompletion, BashScriptCompletesCommandsAndOptions) {
  auto r = run_tool("completion bash");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("complete "), std::string::npos);
  const auto script = (fs::temp_directory_path() / ("wrn_completion_" + std::to_string(::getpid()) + ".bash")).string();
  {
    std::ofstream out(script);
    out << r.out;
  }
  // COMPREPLY for a command line, computed by bash with the generated script.
  auto complete = [&](const std::string& words, int cword) {
    const std::string cmd = "bash -c 'source " + script + " && COMP_WORDS=(" + words + ") && COMP_CWORD=" +
                            std::to_string(cword) + " && _wrn && printf \"%s \" \"${COMPREPLY[@]}\"' 2>&1";
    FILE* pipe = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    size_t n;
    while (pipe && (n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
    if (pipe) pclose(pipe);
    return out;
  };
  EXPECT_EQ(complete("wrn tr", 1), "train ");
  EXPECT_EQ(complete("wrn train --epo", 2), "--epochs ");
  EXPECT_EQ(complete("wrn train --preset demo --for", 4), "--force ");
  EXPECT_EQ(complete("wrn bench infer --ite", 3), "--iters ");
  EXPECT_EQ(complete("wrn export --ops", 2), "--opset ");
  EXPECT_EQ(complete("wrn bench \"\"", 2), "infer step data ");
  const auto top = complete("wrn \"\"", 1);
  EXPECT_EQ(complete("wrn --ver", 1), "--version ");
  for (const char* c : {"train", "predict", "completion", "download"})
    EXPECT_NE(top.find(std::string(c) + " "), std::string::npos) << c << ": " << top;
  fs::remove(script);

  r = run_tool("completion bsh");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("unsupported shell 'bsh' (supported: bash) (did you mean 'bash'?)"), std::string::npos) << r.out;
}

}  // namespace
