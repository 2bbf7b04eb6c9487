// Honest comparisons (issue 12): report.md shows "ours - paper" as a reproduction only when the
// run's recipe is the preset's; otherwise it names every change and says it is not one.
#include <gtest/gtest.h>

#include <algorithm>

#include "wrn/config/config.h"
#include "wrn/report/report.h"

namespace wrn::train {
namespace {

TrainConfig shipped(const std::string& name) { return config_from_yaml(load_yaml_file(find_preset(name))); }

TEST(RecipeDifferences, NamesRecipeChangesAndIgnoresHowTheRunIsExecuted) {
  const auto preset = shipped("wrn-fashion-mnist");
  EXPECT_TRUE(recipe_differences(preset, preset).empty());
  auto run = preset;
  // Not recipe changes: where and how it runs, and the seed.
  run.seed = 7;
  run.device = "cpu";
  run.threads = 2;
  run.precision = Precision::Bf16;
  run.checkpoint.every_seconds = 5;
  run.eval_every = 3;
  run.data.dir = "/elsewhere";
  run.log_every_steps = 10;
  run.model.input = "1x28x28";  // resolved from the data by a run
  EXPECT_TRUE(recipe_differences(run, preset).empty());
  // Recipe changes: model, epochs, data limits, augmentation, schedule, the new regularizers.
  run.model.name = "wrn-10-1";
  run.epochs = 1;
  run.data.limit_train = 2000;
  run.data.augment.pad = 0;
  run.schedule.milestones = {60};
  run.data.augment.erasing.p = 0.5;
  run.ema.decay = 0.999;
  const auto d = recipe_differences(run, preset);
  const std::vector<std::string> keys{"model.name", "data.limit_train", "data.augment.pad",
                                      "data.augment.erasing.p", "schedule.milestones", "epochs", "ema.decay"};
  ASSERT_EQ(d.size(), keys.size()) << ::testing::PrintToString(d);
  for (const auto& k : keys)
    EXPECT_TRUE(std::any_of(d.begin(), d.end(), [&](const std::string& line) { return line.rfind(k + ": ", 0) == 0; }))
        << k << " not in " << ::testing::PrintToString(d);
  EXPECT_NE(std::find(d.begin(), d.end(), "epochs: 300 -> 1"), d.end()) << ::testing::PrintToString(d);
}

ReportInputs inputs_with_paper() {
  ReportInputs in;
  in.run_name = "r";
  in.preset = "wrn-fashion-mnist";
  in.paper = PaperReference{4.01, "Zhong et al."};
  in.epochs_planned = 1;
  fill_results(in, {EpochMetrics{1, 0.1, 0.5, 10, 0.6, 85.6, 20, std::nan(""), std::nan(""), 10, 100}});
  return in;
}

TEST(RecipeReport, APaperNumberIsAReproductionOnlyForTheUnchangedRecipe) {
  auto in = inputs_with_paper();
  in.preset_found = true;
  auto md = render_report(in);
  EXPECT_NE(md.find("ours − paper = +81.59 points"), std::string::npos) << md;
  EXPECT_NE(md.find("is the preset's, unchanged"), std::string::npos) << md;

  in.recipe_changes = {"epochs: 300 -> 1", "model.name: wrn-28-10 -> wrn-10-1"};
  md = render_report(in);
  EXPECT_EQ(md.find("ours − paper"), std::string::npos) << md;
  EXPECT_NE(md.find("not a reproduction"), std::string::npos) << md;
  EXPECT_NE(md.find("- `epochs: 300 -> 1`"), std::string::npos) << md;
  EXPECT_NE(md.find("- `model.name: wrn-28-10 -> wrn-10-1`"), std::string::npos) << md;
  EXPECT_NE(md.find("Changed from the preset `wrn-fashion-mnist` (2 settings"), std::string::npos) << md;

  in.recipe_changes.clear();
  in.preset_found = false;  // a preset this wrn does not ship
  md = render_report(in);
  EXPECT_EQ(md.find("ours − paper"), std::string::npos) << md;
  EXPECT_NE(md.find("could not be checked"), std::string::npos) << md;
}

}  // namespace
}  // namespace wrn::train
