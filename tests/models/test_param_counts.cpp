// Every row of the reference table (../shared/reference/param_counts.tsv, copied to
// tests/golden/param_counts.tsv) is built and counted.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "wrn/core/text.h"
#include "wrn/models/registry.h"
#include "wrn/models/summary.h"

namespace {

struct Row {
  std::string model;
  int64_t classes;
  std::string input;
  int64_t params;
};

std::vector<Row> read_rows() {
  std::ifstream in(std::string(WRN_SOURCE_DIR) + "/tests/golden/param_counts.tsv");
  std::vector<Row> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto f = wrn::split(line, '\t');
    rows.push_back({f.at(0), std::stoll(f.at(1)), f.at(2), std::stoll(f.at(3))});
  }
  return rows;
}

TEST(ParamCounts, EveryReferenceRowMatchesExactly) {
  auto rows = read_rows();
  ASSERT_GE(rows.size(), 30u);
  for (const auto& row : rows) {
    wrn::models::ModelSpec spec;
    spec.name = row.model;
    spec.classes = row.classes;
    spec.input = wrn::models::InputShape::parse(row.input);
    torch::NoGradGuard no_grad;
    auto model = wrn::models::build_model(spec);
    EXPECT_EQ(wrn::models::count_parameters(*model), row.params) << row.model << " classes=" << row.classes;
  }
}

// The count of a WRN with block type B(M), computed independently of the model code:
// d = 3 n |M| + 4, BN -> ReLU -> conv for each kernel of M, 1x1 projection where channels change.
int64_t wrn_count(int64_t depth, int64_t k, const std::vector<int64_t>& kernels, int64_t classes = 10) {
  const int64_t n = (depth - 4) / (3 * static_cast<int64_t>(kernels.size()));
  int64_t params = 3 * 16 * 9, cin = 16;
  for (int64_t w : {16 * k, 32 * k, 64 * k}) {
    for (int64_t b = 0; b < n; ++b) {
      int64_t c = cin;
      for (auto kk : kernels) {
        params += 2 * c + c * w * kk * kk;
        c = w;
      }
      if (cin != w) params += cin * w;
      cin = w;
    }
  }
  return params + 2 * cin + cin * classes + classes;
}

TEST(ParamCounts, WrnBlockTypesMatchAnIndependentCount) {
  // WRN paper Table 2's block types at the depths of the table (the paper reports rounded
  // counts from its own depth convention; see the issue note), and B(3,3) against Table 4.
  struct Case {
    std::vector<int64_t> kernels;
    int64_t depth;
  };
  for (const auto& c : std::vector<Case>{{{1, 3, 1}, 40}, {{3, 1}, 40}, {{1, 3}, 40},
                                         {{3, 1, 1}, 40}, {{3, 3}, 28}, {{3, 1, 3}, 22}}) {
    wrn::models::ModelSpec spec;
    spec.name = "wrn-" + std::to_string(c.depth) + "-2";
    std::string block;
    for (auto k : c.kernels) block += (block.empty() ? "" : ",") + std::to_string(k);
    spec.add_setting("block=" + block);
    auto model = wrn::models::build_model(spec);
    EXPECT_EQ(wrn::models::count_parameters(*model), wrn_count(c.depth, 2, c.kernels)) << "B(" << block << ")";
  }
  EXPECT_EQ(wrn_count(28, 10, {3, 3}), 36479194);  // the reference table's WRN-28-10
}

TEST(ParamCounts, DeepeningFactorKeepsWrn40_2Parameters) {
  // WRN paper Table 3: WRN-40-2 with l = 1..4 convolutions per block, all 2.2M parameters.
  for (int l = 1; l <= 4; ++l) {
    wrn::models::ModelSpec spec;
    spec.name = "wrn-40-2";
    spec.add_setting("deepening=" + std::to_string(l));
    auto model = wrn::models::build_model(spec);
    EXPECT_NEAR(wrn::models::count_parameters(*model) / 1e6, 2.2, 0.05) << "l=" << l;
  }
}

TEST(Macs, MatchThePublishedWorkPerImage) {
  // published_results.md: WRN-16-4 0.393 G, WRN-16-8 1.548 G, WRN-28-10 5.243 G, WRN-40-4 1.299 G,
  // ResNet-50 at 224x224 4.089 G (that figure also counts the pooling; conv+fc give 4.087 G).
  struct Case {
    std::string name;
    double giga;
    double tolerance;
  };
  for (const auto& c : std::vector<Case>{{"wrn-16-4", 0.393, 0.001},
                                         {"wrn-16-8", 1.548, 0.001},
                                         {"wrn-28-10", 5.243, 0.001},
                                         {"wrn-40-4", 1.299, 0.001},
                                         {"resnet50", 4.089, 0.005}}) {
    wrn::models::ModelSpec spec;
    spec.name = c.name;
    auto resolved = wrn::models::resolve_spec(spec);
    auto model = wrn::models::build_model(resolved);
    auto summary = wrn::models::summarize(*model, resolved.input);
    EXPECT_NEAR(summary.macs / 1e9, c.giga, c.tolerance) << c.name;
  }
}

}  // namespace
