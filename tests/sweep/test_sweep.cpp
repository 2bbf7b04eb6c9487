// Unit tests of seed sweeps (sweep/sweep.h): grid parsing, expansion and naming; the
// statistics on hand-computed numbers; summary.json / summary.md / spread.png; the loop's
// train / resume / skip decisions and its refusal of another definition, with fake runs that
// write config.yaml and metrics.jsonl (no training).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/report/curves_plot.h"
#include "wrn/report/metrics_log.h"
#include "wrn/sweep/sweep.h"
#include "../common/test_temp_dir.h"

namespace fs = std::filesystem;
using namespace wrn::train;

namespace {

// A fresh directory per test (tests/common/test_temp_dir.h).
struct TempDir : wrn::testing::TestTempDir {
  TempDir() : TestTempDir("wrn_sweep_") {}
};

// The ConfigError message of `f`, or "" when it throws none.
template <class F>
std::string config_error(F&& f) {
  try {
    f();
  } catch (const wrn::ConfigError& e) {
    return e.what();
  }
  return "";
}

void expect_one_line_error(const std::string& grid_text, const std::string& fragment) {
  const auto msg = config_error([&] { parse_grid_axis(grid_text); });
  ASSERT_FALSE(msg.empty()) << grid_text << " was accepted";
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_NE(msg.find("--grid"), std::string::npos) << msg;
  EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
}

}  // namespace

TEST(SweepGrid, ParsesKeysAndValues) {
  auto a = parse_grid_axis("optimizer.lr=0.05,0.1, 0.2");
  EXPECT_EQ(a.key, "optimizer.lr");
  EXPECT_EQ(a.values, (std::vector<std::string>{"0.05", "0.1", "0.2"}));
  // Commas inside a list belong to the value.
  a = parse_grid_axis("schedule.milestones=[60,120],[30,60]");
  EXPECT_EQ(a.values, (std::vector<std::string>{"[60,120]", "[30,60]"}));
  a = parse_grid_axis("model.settings.dropout=0,0.3");
  EXPECT_EQ(a.key, "model.settings.dropout");
  EXPECT_EQ(a.values.size(), 2u);
  EXPECT_EQ(parse_grid_axis("epochs=5").values, std::vector<std::string>{"5"});
}

TEST(SweepGrid, BadTextIsAOneLineConfigError) {
  expect_one_line_error("optimizer.lr", "key=v1,v2");
  expect_one_line_error("=0.1,0.2", "empty key");
  expect_one_line_error("optimizer.lr=", "empty value");
  expect_one_line_error("optimizer.lr=0.1,,0.2", "empty value");
  expect_one_line_error("optimizer.lr=0.1,0.1", "twice");
  expect_one_line_error("optimizer.lrr=0.1,0.2", "unknown config key 'optimizer.lrr' (did you mean 'optimizer.lr'?)");
  expect_one_line_error("seed=1,2", "--seeds");
}

TEST(SweepGrid, ExpandsTheCartesianProductWithNames) {
  const auto points = expand_grid({parse_grid_axis("optimizer.lr=0.05,0.1"), parse_grid_axis("epochs=10,20,30")});
  ASSERT_EQ(points.size(), 6u);
  EXPECT_EQ(points[0].name, "optimizer.lr=0.05,epochs=10");
  EXPECT_EQ(points[1].name, "optimizer.lr=0.05,epochs=20");
  EXPECT_EQ(points[3].name, "optimizer.lr=0.1,epochs=10");
  EXPECT_EQ(points[5].name, "optimizer.lr=0.1,epochs=30");
  ASSERT_EQ(points[5].overrides.size(), 2u);
  EXPECT_EQ(points[5].overrides[0], (std::pair<std::string, std::string>{"optimizer.lr", "0.1"}));
  EXPECT_EQ(points[5].overrides[1], (std::pair<std::string, std::string>{"epochs", "30"}));

  const auto none = expand_grid({});
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(none[0].name, "default");
  EXPECT_TRUE(none[0].overrides.empty());

  // Filesystem-safe: brackets, slashes and spaces become '_'.
  EXPECT_EQ(sweep_point_name({{"schedule.milestones", "[60, 120]"}}), "schedule.milestones=_60,_120_");
  EXPECT_EQ(sweep_point_name({{"model.init_from", "a/b.ckpt"}}), "model.init_from=a_b.ckpt");
  // Long names are cut, and stay distinct through the hash.
  const auto long1 = sweep_point_name({{"model.name", std::string(200, 'a') + "1"}});
  const auto long2 = sweep_point_name({{"model.name", std::string(200, 'a') + "2"}});
  EXPECT_LE(long1.size(), 120u);
  EXPECT_NE(long1, long2);

  // A key on two axes; two values that name the same directory.
  EXPECT_NE(config_error([] { expand_grid({parse_grid_axis("epochs=1,2"), parse_grid_axis("epochs=3")}); }), "");
  const auto clash = config_error([] { expand_grid({parse_grid_axis("model.init_from=a/b,a:b")}); });
  EXPECT_NE(clash.find("model.init_from=a_b"), std::string::npos) << clash;
}

TEST(SweepStats, HandComputedNumbers) {
  // {1, 2, 3, 4}: median (2 + 3) / 2 = 2.5, mean 2.5, sum of squares 2.25 + 0.25 + 0.25 + 2.25 = 5,
  // sample std sqrt(5 / 3).
  auto s = sample_stats({4, 1, 3, 2});
  EXPECT_EQ(s.n, 4u);
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_NEAR(s.std, 1.2909944487358056, 1e-12);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 4);
  // {1, 3, 5}: median 3, mean 3, squares 4 + 0 + 4 = 8, std sqrt(8 / 2) = 2.
  s = sample_stats({5, 1, 3});
  EXPECT_DOUBLE_EQ(s.median, 3);
  EXPECT_DOUBLE_EQ(s.mean, 3);
  EXPECT_DOUBLE_EQ(s.std, 2);
  // Non-finite values are left out; one value has no std.
  s = sample_stats({7, std::nan(""), INFINITY});
  EXPECT_EQ(s.n, 1u);
  EXPECT_DOUBLE_EQ(s.median, 7);
  EXPECT_TRUE(std::isnan(s.std));
  s = sample_stats({});
  EXPECT_EQ(s.n, 0u);
  EXPECT_TRUE(std::isnan(s.median) && std::isnan(s.mean) && std::isnan(s.min));
}

TEST(SweepPlan, ResolvesEveryConfiguration) {
  SweepSpec spec;
  spec.preset = "demo";
  spec.seeds = 3;
  spec.sets = {"epochs=2", "data.limit_train=100"};
  spec.grid = {"optimizer.lr=0.05,0.1", "model.name=wrn-10-1,wrn-16-1"};
  spec.threads = 2;
  spec.precision = "fp32";
  const auto plan = plan_sweep(spec);
  ASSERT_EQ(plan.configs.size(), 4u);
  EXPECT_EQ(plan.seeds, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(plan.points[2].name, "optimizer.lr=0.1,model.name=wrn-10-1");
  EXPECT_DOUBLE_EQ(plan.configs[2].optimizer.lr, 0.1);
  EXPECT_EQ(plan.configs[2].model.name, "wrn-10-1");
  EXPECT_EQ(plan.configs[3].model.name, "wrn-16-1");
  EXPECT_EQ(plan.configs[0].epochs, 2);
  EXPECT_EQ(plan.configs[0].data.limit_train, 100);
  EXPECT_EQ(plan.configs[0].threads, 2);
  EXPECT_EQ(plan.configs[0].precision, wrn::Precision::Fp32);
  EXPECT_EQ(plan.configs[0].data.kind, "fashion-mnist");  // the preset's
  EXPECT_EQ(plan.run_dir("out", 2, 3), "out/optimizer.lr=0.1,model.name=wrn-10-1/seed-3");
  EXPECT_EQ(spec.command_line(),
            "wrn sweep --preset demo --seeds 3 --grid optimizer.lr=0.05,0.1 --grid model.name=wrn-10-1,wrn-16-1 "
            "--set epochs=2 --set data.limit_train=100 --threads 2 --precision fp32");

  auto bad = spec;
  bad.grid = {"optimizer.lr=0.05,abc"};
  auto msg = config_error([&] { plan_sweep(bad); });
  EXPECT_NE(msg.find("sweep configuration 'optimizer.lr=abc'"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  bad = spec;
  bad.sets.push_back("seed=3");
  EXPECT_NE(config_error([&] { plan_sweep(bad); }).find("--seeds"), std::string::npos);
  bad = spec;
  bad.sets.push_back("optimizer.lr=0.2");
  EXPECT_NE(config_error([&] { plan_sweep(bad); }).find("also a --grid key"), std::string::npos);
  bad = spec;
  bad.seeds = 0;
  EXPECT_NE(config_error([&] { plan_sweep(bad); }), "");
}

namespace {

// A fake engine: writes config.yaml and `epochs` metrics lines whose test error is
// error_of(config name, seed) at the last epoch (and 10 points more before).
struct FakeEngine {
  std::map<std::string, double> final_error;  // by "<config dir>/seed-<s>"
  std::vector<std::string> trained, resumed;
  std::string sweep_dir;
  std::string diverge;  // this run throws TrainingDiverged

  static std::vector<EpochMetrics> metrics(int64_t epochs, double final) {
    std::vector<EpochMetrics> v;
    for (int e = 1; e <= epochs; ++e) {
      EpochMetrics m;
      m.epoch = e;
      m.test_top1_err = e == epochs ? final : final + 10;
      v.push_back(m);
    }
    return v;
  }
  std::string key(const std::string& run_dir) const { return fs::path(run_dir).lexically_relative(sweep_dir).string(); }

  SweepOptions options() {
    SweepOptions o;
    o.log = [](const std::string&) {};
    o.train_run = [this](const TrainConfig& c, const std::string& dir) {
      trained.push_back(key(dir));
      fs::create_directories(dir);
      wrn::write_file_atomically(dir + "/config.yaml", config_to_string(c));
      if (key(dir) == diverge) throw TrainingDiverged("loss is nan");
      write_metrics(dir + "/metrics.jsonl", metrics(c.epochs, final_error.at(key(dir))));
    };
    o.resume_run = [this](const std::string& dir) {
      resumed.push_back(key(dir));
      const auto c = config_from_yaml(load_yaml_file(dir + "/config.yaml"));
      write_metrics(dir + "/metrics.jsonl", metrics(c.epochs, final_error.at(key(dir))));
    };
    return o;
  }
};

SweepSpec small_spec() {
  SweepSpec spec;
  spec.seeds = 3;
  spec.sets = {"epochs=2", "paper={error: 4.5, source: Table 9}"};
  spec.grid = {"optimizer.lr=0.05,0.1"};
  return spec;
}

}  // namespace

TEST(SweepSummary, ComparesWithThePaperOnlyForTheShippedPresetsUnchangedRecipe) {
  auto preset = config_from_yaml(load_yaml_file(find_preset("wrn-cifar10-cutout")));
  std::vector<SweepRunStatus> runs(3);
  for (size_t i = 0; i < runs.size(); ++i) {
    runs[i].seed = i + 1;
    runs[i].state = RunState::Finished;
    runs[i].final_test_error = runs[i].best_test_error = 3.0 + 0.1 * double(i);
  }
  SweepPoint point;
  point.name = "default";
  auto seeds_only = preset;
  seeds_only.seed = 5;  // a seed is not a recipe change
  auto same = summarize_config(point, seeds_only, runs);
  EXPECT_TRUE(same.preset_found);
  EXPECT_TRUE(same.recipe_changes.empty());
  EXPECT_NEAR(same.median_minus_paper, 3.1 - 3.08, 1e-12);
  auto changed = preset;
  changed.epochs = 20;
  point.name = "epochs=20";
  auto c = summarize_config(point, changed, runs);
  EXPECT_TRUE(std::isnan(c.median_minus_paper));
  EXPECT_EQ(c.recipe_changes, (std::vector<std::string>{"epochs: 200 -> 20"}));
  SweepSummary summary;
  summary.configs = {same, c};
  summary.seeds = {1, 2, 3};
  const auto md = summary_markdown(summary);
  EXPECT_NE(md.find("| +0.02 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| not a reproduction |"), std::string::npos) << md;
  EXPECT_NE(md.find("- `epochs: 200 -> 20`"), std::string::npos) << md;
}

TEST(SweepLoop, TrainsSkipsResumesAndSummarizes) {
  TempDir tmp;
  const auto dir = tmp.file("sweep");
  const auto plan = plan_sweep(small_spec());
  FakeEngine fake;
  fake.sweep_dir = dir;
  // lr 0.05: 4, 6, 5 -> median 5, mean 5, std 1; lr 0.1: 3, 3, 6 -> median 3, mean 4, std sqrt(3).
  fake.final_error = {{"optimizer.lr=0.05/seed-1", 4}, {"optimizer.lr=0.05/seed-2", 6}, {"optimizer.lr=0.05/seed-3", 5},
                      {"optimizer.lr=0.1/seed-1", 3},  {"optimizer.lr=0.1/seed-2", 3},  {"optimizer.lr=0.1/seed-3", 6}};
  auto summary = run_sweep(plan, dir, fake.options());
  EXPECT_EQ(fake.trained.size(), 6u);
  EXPECT_TRUE(fake.resumed.empty());
  EXPECT_EQ(fake.trained[0], "optimizer.lr=0.05/seed-1");
  EXPECT_EQ(fake.trained[3], "optimizer.lr=0.1/seed-1");
  // Each run got its own seed.
  EXPECT_EQ(config_from_yaml(load_yaml_file(dir + "/optimizer.lr=0.1/seed-2/config.yaml")).seed, 2u);

  ASSERT_EQ(summary.configs.size(), 2u);
  EXPECT_EQ(summary.configs[0].finished(), 3u);
  EXPECT_DOUBLE_EQ(summary.configs[0].final_error.median, 5);
  EXPECT_DOUBLE_EQ(summary.configs[0].final_error.std, 1);
  EXPECT_DOUBLE_EQ(summary.configs[0].best_error.median, 5);  // the last epoch is the best here
  EXPECT_DOUBLE_EQ(summary.configs[1].final_error.mean, 4);
  EXPECT_NEAR(summary.configs[1].final_error.std, std::sqrt(3.0), 1e-12);
  // A paper number on a config of no shipped preset: shown, but not compared (the recipe is unchecked).
  EXPECT_FALSE(summary.configs[1].preset_found);
  EXPECT_TRUE(std::isnan(summary.configs[1].median_minus_paper));

  // summary.json holds the same, with each seed's value.
  const auto j = nlohmann::json::parse(wrn::read_file(dir + "/summary.json"));
  ASSERT_EQ(j.at("configurations").size(), 2u);
  const auto& c1 = j["configurations"][1];
  EXPECT_EQ(c1["name"], "optimizer.lr=0.1");
  EXPECT_EQ(c1["overrides"]["optimizer.lr"], "0.1");
  EXPECT_EQ(c1["finished"], 3);
  EXPECT_DOUBLE_EQ(c1["final_test_error"]["median"].get<double>(), 3);
  EXPECT_DOUBLE_EQ(c1["final_test_error"]["mean"].get<double>(), 4);
  EXPECT_DOUBLE_EQ(c1["final_test_error"]["min"].get<double>(), 3);
  EXPECT_DOUBLE_EQ(c1["final_test_error"]["max"].get<double>(), 6);
  ASSERT_EQ(c1["final_test_error"]["values"].size(), 3u);
  EXPECT_EQ(c1["final_test_error"]["values"][2]["seed"], 3);
  EXPECT_DOUBLE_EQ(c1["final_test_error"]["values"][2]["value"].get<double>(), 6);
  EXPECT_DOUBLE_EQ(c1["paper"]["error"].get<double>(), 4.5);
  EXPECT_EQ(c1["paper"]["source"], "Table 9");
  EXPECT_TRUE(c1["median_minus_paper"].is_null());
  EXPECT_EQ(c1["reproduction"], false);
  EXPECT_EQ(c1["seeds"][0]["state"], "finished");
  EXPECT_EQ(c1["seeds"][0]["dir"], "optimizer.lr=0.1/seed-1");
  EXPECT_EQ(j["seeds"], (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(j["sweep"], plan.spec.to_json());

  // summary.md: one row per configuration with the numbers, and one per run.
  const auto md = wrn::read_file(dir + "/summary.md");
  EXPECT_NE(md.find("| optimizer.lr=0.05 | 3/3 | 5.00 | 5.00 ± 1.00 | 4.00 | 6.00 | 5.00 | 5.00 ± 1.00 | 4.00 | 6.00 "
                    "| 4.50 (Table 9) | not a reproduction |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| optimizer.lr=0.1 | 3/3 | 3.00 | 4.00 ± 1.73 | 3.00 | 6.00 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| optimizer.lr=0.1 | 3 | finished | 2/2 | 6.00 | 6.00 | optimizer.lr=0.1/seed-3 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("--grid optimizer.lr=0.05,0.1"), std::string::npos) << md;
  const auto png = wrn::read_file(dir + "/spread.png");
  ASSERT_GT(png.size(), 8u);
  EXPECT_EQ(png.substr(1, 3), "PNG");

  // The same sweep again: everything is finished, nothing runs.
  fake.trained.clear();
  run_sweep(plan, dir, fake.options());
  EXPECT_TRUE(fake.trained.empty());
  EXPECT_TRUE(fake.resumed.empty());

  // A run cut short (its last epoch gone) is resumed; a run directory that was never written is trained.
  const auto cut = dir + "/optimizer.lr=0.1/seed-2";
  write_metrics(cut + "/metrics.jsonl", FakeEngine::metrics(1, 9));
  fs::remove_all(dir + "/optimizer.lr=0.05/seed-3");
  fs::create_directories(dir + "/optimizer.lr=0.05/seed-3");  // created, killed before config.yaml
  summary = run_sweep(plan, dir, fake.options());
  EXPECT_EQ(fake.resumed, std::vector<std::string>{"optimizer.lr=0.1/seed-2"});
  EXPECT_EQ(fake.trained, std::vector<std::string>{"optimizer.lr=0.05/seed-3"});
  EXPECT_DOUBLE_EQ(summary.configs[1].final_error.mean, 4);
}

TEST(SweepLoop, RefusesAnotherDefinition) {
  TempDir tmp;
  const auto dir = tmp.file("sweep");
  FakeEngine fake;
  fake.sweep_dir = dir;
  for (const auto* c : {"optimizer.lr=0.05", "optimizer.lr=0.1"})
    for (int s = 1; s <= 3; ++s) fake.final_error[fmt::format("{}/seed-{}", c, s)] = 5;
  run_sweep(plan_sweep(small_spec()), dir, fake.options());
  auto other = small_spec();
  other.seeds = 2;
  fake.trained.clear();
  const auto msg = config_error([&] { run_sweep(plan_sweep(other), dir, fake.options()); });
  EXPECT_NE(msg.find("holds another sweep"), std::string::npos) << msg;
  EXPECT_NE(msg.find("seeds 3 there, 2 here"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_TRUE(fake.trained.empty());
  // A directory with other things in it and no sweep.json.
  fs::create_directories(tmp.file("busy"));
  wrn::write_file_atomically(tmp.file("busy/notes.txt"), "x");
  EXPECT_NE(config_error([&] { run_sweep(plan_sweep(small_spec()), tmp.file("busy"), fake.options()); })
                .find("not a sweep directory"),
            std::string::npos);
}

TEST(SweepLoop, ADivergedRunIsReportedAndTheOthersRun) {
  TempDir tmp;
  const auto dir = tmp.file("sweep");
  FakeEngine fake;
  fake.sweep_dir = dir;
  for (const auto* c : {"optimizer.lr=0.05", "optimizer.lr=0.1"})
    for (int s = 1; s <= 3; ++s) fake.final_error[fmt::format("{}/seed-{}", c, s)] = s;
  fake.diverge = "optimizer.lr=0.05/seed-2";
  try {
    run_sweep(plan_sweep(small_spec()), dir, fake.options());
    FAIL() << "no error for the diverged run";
  } catch (const wrn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("1 of 6 runs diverged (optimizer.lr=0.05/seed-2)"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(fake.trained.size(), 6u);
  const auto j = nlohmann::json::parse(wrn::read_file(dir + "/summary.json"));
  EXPECT_EQ(j["configurations"][0]["finished"], 2);
  EXPECT_EQ(j["configurations"][0]["seeds"][1]["state"], "diverged");
  EXPECT_DOUBLE_EQ(j["configurations"][0]["final_test_error"]["median"].get<double>(), 2);  // seeds 1 and 3
}

TEST(SweepSummary, MarkdownWithoutPaperAndWithPartialRuns) {
  SweepSummary s;
  s.spec.preset = "demo";
  s.spec.seeds = 2;
  s.seeds = {1, 2};
  TrainConfig config;
  config.epochs = 4;
  SweepRunStatus a{1, "default/seed-1", RunState::Finished, 4, 7.25, 6.5};
  SweepRunStatus b{2, "default/seed-2", RunState::Partial, 2, 9, 8};
  s.configs.push_back(summarize_config({"default", {}}, config, {a, b}));
  EXPECT_EQ(s.configs[0].finished(), 1u);
  const auto md = summary_markdown(s);
  EXPECT_NE(md.find("# Sweep: demo, 1 configuration x 2 seeds"), std::string::npos) << md;
  EXPECT_NE(md.find("1 of 2 runs finished"), std::string::npos) << md;
  // One finished run: no std; no paper: dashes.
  EXPECT_NE(md.find("| default | 1/2 | 7.25 | 7.25 | 7.25 | 7.25 | 6.50 | 6.50 | 6.50 | 6.50 | — | — |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| default | 2 | partial | 2/4 | 9.00 | 8.00 | default/seed-2 |"), std::string::npos) << md;
  const auto j = summary_json(s);
  EXPECT_TRUE(j["configurations"][0]["paper"].is_null());
  EXPECT_TRUE(j["configurations"][0]["final_test_error"]["std"].is_null());
  EXPECT_EQ(j["configurations"][0]["final_test_error"]["values"].size(), 1u);
}

TEST(SweepSpreadPlot, DrawsDotsMedianAndPaper) {
  auto count = [](const RgbImage& img, uint8_t r, uint8_t g, uint8_t b) {
    size_t n = 0;
    for (int y = 0; y < img.height; ++y)
      for (int x = 0; x < img.width; ++x) {
        const uint8_t* p = img.at(x, y);
        n += p[0] == r && p[1] == g && p[2] == b;
      }
    return n;
  };
  std::vector<SpreadColumn> cols(2);
  cols[0].label = "optimizer.lr=0.05\nepochs=10";
  cols[0].values = {4, 5, 6};
  cols[0].median = 5;
  cols[1].label = "optimizer.lr=0.1";
  cols[1].values = {3, std::nan("")};
  cols[1].median = 3;
  auto img = render_spread(cols);
  EXPECT_GE(img.width, 480);
  EXPECT_GT(count(img, 31, 119, 180), 100u);  // the dots (blue)
  EXPECT_GT(count(img, 214, 39, 40), 50u);    // the medians (red)
  EXPECT_EQ(count(img, 44, 160, 44), 0u);     // no paper line
  cols[0].reference = cols[1].reference = 4.5;
  img = render_spread(cols);
  EXPECT_GT(count(img, 44, 160, 44), 50u);  // dashed green
  // Any input draws.
  EXPECT_NO_THROW(render_spread({}));
  EXPECT_NO_THROW(render_spread(std::vector<SpreadColumn>(40)));
  SpreadPlotOptions bad;
  bad.height = 10;
  EXPECT_THROW(render_spread(cols, bad), wrn::ConfigError);
}
