// The tool itself: `wrn info --json` for every reference row, `wrn models`, and one-line
// errors with a non-zero exit for bad options.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "run_tool.h"
#include "wrn/core/text.h"

namespace {

using wrn::testing::run_tool;

TEST(CliInfo, JsonParamsMatchEveryReferenceRow) {
  std::ifstream in(std::string(WRN_SOURCE_DIR) + "/tests/golden/param_counts.tsv");
  std::string line;
  int rows = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto f = wrn::split(line, '\t');
    auto r = run_tool("info " + f[0] + " --classes " + f[1] + " --input " + f[2] + " --json --threads 1");
    ASSERT_EQ(r.status, 0) << r.out;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["params"].get<int64_t>(), std::stoll(f[3])) << f[0];
    EXPECT_GT(j["macs"].get<int64_t>(), 0) << f[0];
    ++rows;
  }
  EXPECT_GE(rows, 30);
}

TEST(CliInfo, HumanReadable) {
  auto r = run_tool("info wrn-16-4");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("2,748,890"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0.393 G"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("layer3   256x8x8"), std::string::npos) << r.out;
}

TEST(CliModels, ListsTheZoo) {
  auto r = run_tool("models");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* name : {"resnet50", "wide_resnet101_2", "resnet1202", "preact_resnet1001", "wrn-28-10"}) {
    EXPECT_NE(r.out.find(name), std::string::npos) << name;
  }
}

TEST(CliErrors, OneLineAndNonZero) {
  struct Case {
    std::string args, fragment;
  };
  for (const auto& c : std::vector<Case>{{"info wrn-17-4", "WRN depth must be 6n+4"},
                                         {"info resnet5", "did you mean 'resnet50'?"},
                                         {"info wrn-16-4 --input 3x32", "--input: expected CxHxW"},
                                         {"info wrn-16-4 --set dropout", "--set: expected key=value"},
                                         {"info wrn-16-4 --classes abc", "--classes"},
                                         {"info", "model is required"},
                                         {"frobnicate", "unknown command 'frobnicate'"},
                                         {"predcit x", "did you mean 'predict'?"}}) {
    auto r = run_tool(c.args);
    EXPECT_NE(r.status, 0) << c.args;
    EXPECT_NE(r.out.find(c.fragment), std::string::npos) << c.args << ": " << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << c.args << ": " << r.out;
    EXPECT_EQ(r.out.rfind("wrn: error: ", 0), 0u) << r.out;
  }
}

TEST(CliHelp, EveryCommandHasHelp) {
  auto r = run_tool("--help");
  ASSERT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("info"), std::string::npos);
  auto info = run_tool("info --help");
  EXPECT_EQ(info.status, 0);
  EXPECT_NE(info.out.find("--json"), std::string::npos);
}

}  // namespace
