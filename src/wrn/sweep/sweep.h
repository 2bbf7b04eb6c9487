// Seed sweeps: every configuration of a grid (the cartesian product of `--grid key=v1,v2`
// axes) trained with seeds 1..N, one run directory each, one after the other in this process,
// with the spread over the seeds summarized beside the paper's number (`wrn sweep`).
//
// Sweep directory:
//   sweep.json                    the sweep's definition (SweepSpec); another definition over
//                                 the same directory is refused
//   <config-name>/seed-<s>/       one run directory (trainer.h) per configuration and seed
//   summary.json, summary.md      per configuration: finished runs, final and best test error
//                                 (median, mean +- sample std, min, max, each seed's value),
//                                 the paper's number and median - paper; rewritten after each run
//   spread.png                    each seed's final error as a dot, per configuration a column
//
// Restartable: a run whose metrics.jsonl holds all its epochs is skipped, one with a
// config.yaml but fewer epochs is resumed (train::resume), any other is trained from scratch,
// so a killed sweep continues where it stopped when the same command runs again.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "wrn/config/config.h"
#include "wrn/train/trainer.h"

namespace wrn::train {

// ---- The grid ----

// One --grid axis: a config key and its values, each as `--set key=value` would take it.
struct GridAxis {
  std::string key;
  std::vector<std::string> values;
};

// Parses "key=v1,v2,...". Commas inside [...], {...} or quotes belong to the value
// ("schedule.milestones=[60,120],[30,60]" has two values). Spaces around key and values are
// dropped. Throws wrn::ConfigError (one line naming --grid and the text) for a text without
// '=', an empty key, an empty or repeated value, a key that is not a config field (with a
// did-you-mean; model.settings.NAME is accepted) or `seed` (the sweep sets it: --seeds).
GridAxis parse_grid_axis(const std::string& text);

// One configuration of a sweep: the grid values it takes and its directory name.
struct SweepPoint {
  std::string name;  // sweep_point_name(overrides)
  std::vector<std::pair<std::string, std::string>> overrides;  // (key, value), in axis order
};

// "optimizer.lr=0.05,epochs=10" made filesystem-safe: characters other than letters, digits
// and ". , = + -" become '_'; a name longer than 120 characters is cut and ends in a hash of
// the whole. "default" for no overrides.
std::string sweep_point_name(const std::vector<std::pair<std::string, std::string>>& overrides);

// The cartesian product of the axes, the first axis varying slowest; no axes: one point,
// "default". Throws wrn::ConfigError for a key on two axes, or two points whose names are equal.
std::vector<SweepPoint> expand_grid(const std::vector<GridAxis>& axes);

// ---- Statistics ----

// Summary statistics of a sample. NaN where undefined: everything for n == 0, std for n < 2.
struct SampleStats {
  size_t n = 0;
  double median = std::numeric_limits<double>::quiet_NaN();
  double mean = std::numeric_limits<double>::quiet_NaN();
  double std = std::numeric_limits<double>::quiet_NaN();  // sample standard deviation (n - 1)
  double min = std::numeric_limits<double>::quiet_NaN();
  double max = std::numeric_limits<double>::quiet_NaN();
};

// Statistics of the finite values (non-finite ones are left out).
SampleStats sample_stats(const std::vector<double>& values);

// ---- The definition ----

// What a sweep is: the command line of `wrn sweep` minus --out and --quiet. Stored in sweep.json.
struct SweepSpec {
  std::string preset;             // preset name or YAML file; empty: the config defaults
  std::vector<std::string> sets;  // "key=value" overrides, in order (--set)
  std::vector<std::string> grid;  // "key=v1,v2" axes, in order (--grid)
  int seeds = 1;                  // runs seeds 1..seeds of every configuration
  std::optional<int> threads;     // threads=T for every run
  std::string precision;          // precision=P for every run; empty: the config's

  // sweep.json's content, and "wrn sweep --preset ... --seeds N ..." (shell-quoted where needed).
  nlohmann::json to_json() const;
  std::string command_line() const;
};

// A sweep resolved: its configurations, each validated (with seed 1).
struct SweepPlan {
  SweepSpec spec;
  std::vector<SweepPoint> points;
  std::vector<TrainConfig> configs;  // per point; the seed is set per run
  std::vector<uint64_t> seeds;       // 1..spec.seeds

  // The run directory of point p and seed s below the sweep directory.
  std::string run_dir(const std::string& sweep_dir, size_t point, uint64_t seed) const;
};

// Loads the preset (find_preset, or a YAML file), applies --set, threads and precision, then
// each point's overrides, and builds every configuration (config_from_yaml, validated).
// Throws wrn::ConfigError: seeds < 1; a bad --grid text (parse_grid_axis); `seed` in --set;
// a key both in --set and --grid; a configuration that does not validate (the message names
// the configuration); FileError for a missing preset file.
SweepPlan plan_sweep(const SweepSpec& spec);

// ---- State and summary ----

enum class RunState { Pending, Partial, Finished, Diverged };
const char* to_string(RunState s);  // "pending", "partial", "finished", "diverged"

// One run of a sweep, as its directory shows it.
struct SweepRunStatus {
  uint64_t seed = 0;
  std::string dir;     // relative to the sweep directory: <config-name>/seed-<s>
  RunState state = RunState::Pending;
  int epochs_done = 0;  // epochs in metrics.jsonl
  // The last epoch's test error, and the best one (the test error of the epoch with the lowest
  // validation error when the run holds out a validation split, as report.md); percent, NaN if none.
  double final_test_error = std::numeric_limits<double>::quiet_NaN();
  double best_test_error = std::numeric_limits<double>::quiet_NaN();
  std::string best_chosen_on = "test";  // the split that chose the best epoch: "test" or "validation"
  double best_val_error = std::numeric_limits<double>::quiet_NaN();  // that epoch's; NaN without validation
};

// Reads `run_dir`'s metrics.jsonl (read_metrics): Pending without config.yaml, Finished with
// `epochs` epochs or more, else Partial. Throws wrn::FileError for an unreadable metrics file.
SweepRunStatus inspect_run(const std::string& run_dir, int64_t epochs);

struct SweepConfigSummary {
  SweepPoint point;
  int64_t epochs = 0;
  PaperConfig paper;                // the configuration's (paper.error / paper.source)
  std::vector<SweepRunStatus> runs;  // one per seed, in seed order
  SampleStats final_error, best_error;  // over the finished runs
  // changes_from_preset(config): a paper number is compared (median_minus_paper) only for the
  // shipped preset's unchanged recipe.
  bool preset_found = false;
  std::vector<std::string> recipe_changes;
  double median_minus_paper = std::numeric_limits<double>::quiet_NaN();  // final_error.median - paper.error
  size_t finished() const { return final_error.n; }
};

struct SweepSummary {
  SweepSpec spec;
  std::vector<uint64_t> seeds;
  std::vector<SweepConfigSummary> configs;
};

// The statistics of the runs (their states as given; only Finished runs enter the numbers).
SweepConfigSummary summarize_config(const SweepPoint& point, const TrainConfig& config,
                                    std::vector<SweepRunStatus> runs);

// summary.json (NaN as null) and summary.md's text.
nlohmann::json summary_json(const SweepSummary& summary);
std::string summary_markdown(const SweepSummary& summary);

// summary.json, summary.md and spread.png in `sweep_dir`, each atomically (temporary file +
// rename). Throws wrn::FileError.
void write_summary(const std::string& sweep_dir, const SweepSummary& summary);

// ---- The loop ----

struct SweepOptions {
  RunOptions run;  // passed to every train() / resume() (quiet, stop_on_signals, ...)
  // How one run is trained and continued; empty: train(config, run_dir, run) and
  // resume(run_dir, run). Tests put fakes here.
  std::function<void(const TrainConfig& config, const std::string& run_dir)> train_run;
  std::function<void(const std::string& run_dir)> resume_run;
  // Progress lines ("sweep: run 2/4 ..."); empty: stderr unless run.quiet.
  std::function<void(const std::string& line)> log;
};

// Runs the plan in `sweep_dir`: checks or writes sweep.json, then every configuration's seeds
// in order (train, resume or skip, as the directory says), rewriting the summary after each.
// A run that diverges (TrainingDiverged) is marked so and the sweep goes on; at the end such
// runs make it throw wrn::Error naming them (the summary is written first).
// Throws wrn::ConfigError when `sweep_dir` holds another sweep (sweep.json differs: the message
// names the first difference) or is a non-empty directory without sweep.json; anything
// train()/resume() throw besides TrainingDiverged (TrainingInterrupted included) ends the sweep.
SweepSummary run_sweep(const SweepPlan& plan, const std::string& sweep_dir, const SweepOptions& options = {});

}  // namespace wrn::train
