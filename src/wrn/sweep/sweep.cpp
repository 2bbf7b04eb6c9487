#include "wrn/sweep/sweep.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <set>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/core/text.h"
#include "wrn/report/curves_plot.h"
#include "wrn/report/report.h"  // fill_results: final and best test error as report.md has them

namespace fs = std::filesystem;

namespace wrn::train {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Splits at commas outside brackets, braces and quotes.
std::vector<std::string> split_top_level(const std::string& s) {
  std::vector<std::string> out(1);
  int depth = 0;
  char quote = 0;
  for (char c : s) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    } else if (c == ',' && depth == 0) {
      out.emplace_back();
      continue;
    }
    out.back() += c;
  }
  return out;
}

// The config keys a --set or --grid may name.
std::vector<std::string> field_keys() {
  std::vector<std::string> keys;
  for (const auto& f : config_fields()) keys.push_back(f.key);
  return keys;
}

bool known_key(const std::string& key) {
  for (const auto& f : config_fields()) {
    if (f.key == key) return true;
    if (f.type == FieldType::Settings && key.size() > f.key.size() + 1 && key.compare(0, f.key.size() + 1, f.key + ".") == 0)
      return true;
  }
  return false;
}

// FNV-1a, for names too long to keep whole.
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string key_of(const std::string& key_equals_value) {
  return trim(key_equals_value.substr(0, key_equals_value.find('=')));
}

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

nlohmann::json stats_json(const SampleStats& s, const std::vector<SweepRunStatus>& runs, bool final_error) {
  nlohmann::json values = nlohmann::json::array();
  for (const auto& r : runs)
    if (r.state == RunState::Finished)
      values.push_back({{"seed", r.seed}, {"value", number_or_null(final_error ? r.final_test_error : r.best_test_error)}});
  return {{"n", s.n},
          {"median", number_or_null(s.median)},
          {"mean", number_or_null(s.mean)},
          {"std", number_or_null(s.std)},
          {"min", number_or_null(s.min)},
          {"max", number_or_null(s.max)},
          {"values", values}};
}

std::string pct(double v) { return std::isfinite(v) ? fmt::format("{:.2f}", v) : "n/a"; }

// "12.34 ± 0.56", "12.34" for a single run, "n/a" for none.
std::string mean_std(const SampleStats& s) {
  if (s.n == 0) return "n/a";
  return std::isfinite(s.std) ? fmt::format("{:.2f} ± {:.2f}", s.mean, s.std) : pct(s.mean);
}

// Markdown table cells must not contain '|' or newlines.
std::string cell(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '\n' || c == '\r') c = ' ';
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

// A shell word: quoted when it holds anything but safe characters.
std::string shell_word(const std::string& s) {
  const bool safe = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string("._,=+-/:@%").find(c) != std::string::npos;
  });
  if (safe) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The first field where two sweep.json objects differ, as "seeds 3 there, 2 here".
std::string first_difference(const nlohmann::json& stored, const nlohmann::json& now) {
  std::set<std::string> keys;
  for (auto it = stored.begin(); it != stored.end(); ++it) keys.insert(it.key());
  for (auto it = now.begin(); it != now.end(); ++it) keys.insert(it.key());
  for (const auto& k : keys) {
    const auto a = stored.contains(k) ? stored.at(k).dump() : "(none)";
    const auto b = now.contains(k) ? now.at(k).dump() : "(none)";
    if (a != b) return fmt::format("{} {} there, {} here", k, a, b);
  }
  return "";
}

void check_or_write_definition(const std::string& sweep_dir, const SweepSpec& spec) {
  const auto path = (fs::path(sweep_dir) / "sweep.json").string();
  const nlohmann::json now = spec.to_json();
  std::error_code ec;
  if (fs::exists(path)) {
    nlohmann::json stored;
    try {
      stored = nlohmann::json::parse(read_file(path));
    } catch (const nlohmann::json::exception& e) {
      throw FileError(fmt::format("{}: not a sweep definition: {}", path, one_line_message(e)));
    }
    WRN_CHECK(stored == now,
              "--out {}: holds another sweep ({}: {}); run the same command again to continue it, or use another --out",
              sweep_dir, path, first_difference(stored, now));
    return;
  }
  WRN_CHECK(!fs::exists(sweep_dir) || (fs::is_directory(sweep_dir, ec) && fs::is_empty(sweep_dir, ec)),
            "--out {}: exists and is not a sweep directory (no sweep.json); use another --out", sweep_dir);
  fs::create_directories(sweep_dir);
  write_file_atomically(path, now.dump(2) + "\n");
}

}  // namespace

// ---- The grid ----

GridAxis parse_grid_axis(const std::string& text) {
  const auto eq = text.find('=');
  WRN_CHECK(eq != std::string::npos, "--grid '{}': expected key=v1,v2,... (e.g. optimizer.lr=0.05,0.1)", text);
  GridAxis axis;
  axis.key = trim(text.substr(0, eq));
  WRN_CHECK(!axis.key.empty(), "--grid '{}': empty key; expected key=v1,v2,... (e.g. optimizer.lr=0.05,0.1)", text);
  WRN_CHECK(axis.key != "seed", "--grid '{}': the sweep sets the seed itself (--seeds N runs seeds 1..N)", text);
  WRN_CHECK(known_key(axis.key), "--grid '{}': unknown config key '{}'{} (see 'wrn train --print-config')", text,
            axis.key, did_you_mean(axis.key, field_keys()));
  for (const auto& part : split_top_level(text.substr(eq + 1))) {
    const auto v = trim(part);
    WRN_CHECK(!v.empty(), "--grid '{}': empty value; expected key=v1,v2,... with at least one value", text);
    WRN_CHECK(std::find(axis.values.begin(), axis.values.end(), v) == axis.values.end(),
              "--grid '{}': the value '{}' is given twice", text, v);
    axis.values.push_back(v);
  }
  return axis;
}

std::string sweep_point_name(const std::vector<std::pair<std::string, std::string>>& overrides) {
  if (overrides.empty()) return "default";
  std::string whole;
  for (const auto& [k, v] : overrides) whole += (whole.empty() ? "" : ",") + k + "=" + v;
  std::string name;
  for (char c : whole)
    name += std::isalnum(static_cast<unsigned char>(c)) || std::string(".,=+-").find(c) != std::string::npos ? c : '_';
  if (name.size() > 120) name = name.substr(0, 103) + fmt::format("-{:016x}", fnv1a(whole));
  return name;
}

std::vector<SweepPoint> expand_grid(const std::vector<GridAxis>& axes) {
  for (size_t i = 0; i < axes.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      WRN_CHECK(axes[i].key != axes[j].key, "--grid {}: the key is given in two --grid options; list its values in one",
                axes[i].key);
  std::vector<std::vector<std::pair<std::string, std::string>>> combos(1);
  for (const auto& axis : axes) {
    std::vector<std::vector<std::pair<std::string, std::string>>> next;
    for (const auto& c : combos)
      for (const auto& v : axis.values) {
        next.push_back(c);
        next.back().emplace_back(axis.key, v);
      }
    combos = std::move(next);
  }
  std::vector<SweepPoint> points;
  std::set<std::string> names;
  for (auto& c : combos) {
    SweepPoint p{sweep_point_name(c), std::move(c)};
    WRN_CHECK(names.insert(p.name).second,
              "--grid: two configurations get the directory name '{}'; make their values differ in letters or digits",
              p.name);
    points.push_back(std::move(p));
  }
  return points;
}

// ---- Statistics ----

SampleStats sample_stats(const std::vector<double>& values) {
  std::vector<double> v;
  for (double x : values)
    if (std::isfinite(x)) v.push_back(x);
  SampleStats s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  s.median = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / n;
  if (n > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(ss / (n - 1));
  }
  s.min = v.front();
  s.max = v.back();
  return s;
}

// ---- The definition ----

nlohmann::json SweepSpec::to_json() const {
  return {{"preset", preset},
          {"sets", sets},
          {"grid", grid},
          {"seeds", seeds},
          {"threads", threads ? nlohmann::json(*threads) : nlohmann::json()},
          {"precision", precision}};
}

std::string SweepSpec::command_line() const {
  std::string s = "wrn sweep";
  if (!preset.empty()) s += " --preset " + shell_word(preset);
  s += fmt::format(" --seeds {}", seeds);
  for (const auto& g : grid) s += " --grid " + shell_word(g);
  for (const auto& v : sets) s += " --set " + shell_word(v);
  if (threads) s += fmt::format(" --threads {}", *threads);
  if (!precision.empty()) s += " --precision " + shell_word(precision);
  return s;
}

std::string SweepPlan::run_dir(const std::string& sweep_dir, size_t point, uint64_t seed) const {
  return (fs::path(sweep_dir) / points.at(point).name / fmt::format("seed-{}", seed)).string();
}

SweepPlan plan_sweep(const SweepSpec& spec) {
  WRN_CHECK(spec.seeds >= 1, "--seeds {}: expected at least 1", spec.seeds);
  SweepPlan plan;
  plan.spec = spec;
  for (int s = 1; s <= spec.seeds; ++s) plan.seeds.push_back(static_cast<uint64_t>(s));
  std::vector<GridAxis> axes;
  for (const auto& g : spec.grid) axes.push_back(parse_grid_axis(g));
  plan.points = expand_grid(axes);

  YAML::Node base(YAML::NodeType::Map);
  if (!spec.preset.empty()) {
    base = load_yaml_file(find_preset(spec.preset));
    if (!base.IsMap()) base = YAML::Node(YAML::NodeType::Map);
  }
  for (const auto& s : spec.sets) {
    WRN_CHECK(key_of(s) != "seed", "--set {}: the sweep sets the seed itself (--seeds N runs seeds 1..N)", s);
    for (const auto& a : axes)
      WRN_CHECK(key_of(s) != a.key, "--set {}: '{}' is also a --grid key; give it in one of them", s, a.key);
    apply_override(base, s);
  }
  if (spec.threads) apply_override(base, fmt::format("threads={}", *spec.threads));
  if (!spec.precision.empty()) apply_override(base, "precision=" + spec.precision);
  for (const auto& p : plan.points) {
    YAML::Node root = YAML::Clone(base);
    for (const auto& [k, v] : p.overrides) apply_override(root, k + "=" + v);
    apply_override(root, "seed=1");
    try {
      plan.configs.push_back(config_from_yaml(root));
    } catch (const ConfigError& e) {
      throw ConfigError(fmt::format("sweep configuration '{}': {}", p.name, one_line_message(e)));
    }
  }
  return plan;
}

// ---- State and summary ----

const char* to_string(RunState s) {
  switch (s) {
    case RunState::Pending: return "pending";
    case RunState::Partial: return "partial";
    case RunState::Finished: return "finished";
    case RunState::Diverged: return "diverged";
  }
  return "?";
}

SweepRunStatus inspect_run(const std::string& run_dir, int64_t epochs) {
  SweepRunStatus r;
  r.dir = run_dir;
  if (!fs::exists(fs::path(run_dir) / "config.yaml")) return r;
  const auto metrics = read_metrics((fs::path(run_dir) / "metrics.jsonl").string());
  ReportInputs in;
  fill_results(in, metrics);
  r.epochs_done = metrics.empty() ? 0 : metrics.back().epoch;
  r.final_test_error = in.final_test_error;
  r.best_test_error = in.best_test_error;
  r.best_chosen_on = in.best_chosen_on;
  r.best_val_error = in.best_val_error;
  r.state = !metrics.empty() && metrics.back().epoch >= epochs ? RunState::Finished : RunState::Partial;
  return r;
}

SweepConfigSummary summarize_config(const SweepPoint& point, const TrainConfig& config,
                                    std::vector<SweepRunStatus> runs) {
  SweepConfigSummary c;
  c.point = point;
  c.epochs = config.epochs;
  c.paper = config.paper;
  c.runs = std::move(runs);
  std::vector<double> final_errors, best_errors;
  for (const auto& r : c.runs)
    if (r.state == RunState::Finished) {
      final_errors.push_back(r.final_test_error);
      best_errors.push_back(r.best_test_error);
    }
  c.final_error = sample_stats(final_errors);
  c.best_error = sample_stats(best_errors);
  if (auto changes = changes_from_preset(config)) {
    c.preset_found = true;
    c.recipe_changes = std::move(*changes);
  }
  if (c.paper.present() && c.preset_found && c.recipe_changes.empty())
    c.median_minus_paper = c.final_error.median - c.paper.error;
  return c;
}

nlohmann::json summary_json(const SweepSummary& summary) {
  nlohmann::json configs = nlohmann::json::array();
  for (const auto& c : summary.configs) {
    nlohmann::json overrides = nlohmann::json::object();
    for (const auto& [k, v] : c.point.overrides) overrides[k] = v;
    nlohmann::json runs = nlohmann::json::array();
    for (const auto& r : c.runs)
      runs.push_back({{"seed", r.seed},
                      {"dir", r.dir},
                      {"state", to_string(r.state)},
                      {"epochs_done", r.epochs_done},
                      {"final_test_error", number_or_null(r.final_test_error)},
                      {"best_test_error", number_or_null(r.best_test_error)},
                      {"best_chosen_on", r.best_chosen_on},
                      {"best_val_error", number_or_null(r.best_val_error)}});
    configs.push_back(
        {{"name", c.point.name},
         {"overrides", overrides},
         {"epochs", c.epochs},
         {"runs", c.runs.size()},
         {"finished", c.finished()},
         {"final_test_error", stats_json(c.final_error, c.runs, true)},
         {"best_test_error", stats_json(c.best_error, c.runs, false)},
         {"paper", c.paper.present() ? nlohmann::json{{"error", c.paper.error}, {"source", c.paper.source}} : nlohmann::json()},
         {"median_minus_paper", number_or_null(c.median_minus_paper)},
         {"reproduction", c.paper.present() && c.preset_found && c.recipe_changes.empty()},
         {"recipe_changes", c.recipe_changes},
         {"seeds", runs}});
  }
  return {{"sweep", summary.spec.to_json()},
          {"command", summary.spec.command_line()},
          {"seeds", summary.seeds},
          {"error_unit", "percent top-1 test error"},
          {"configurations", configs}};
}

std::string summary_markdown(const SweepSummary& summary) {
  size_t runs = 0, finished = 0;
  for (const auto& c : summary.configs) runs += c.runs.size(), finished += c.finished();
  std::string md = fmt::format("# Sweep: {}, {} configuration{} x {} seed{}\n\n",
                               summary.spec.preset.empty() ? "defaults" : summary.spec.preset, summary.configs.size(),
                               summary.configs.size() == 1 ? "" : "s", summary.seeds.size(),
                               summary.seeds.size() == 1 ? "" : "s");
  md += fmt::format("`{}`\n\n", summary.spec.command_line());
  md += fmt::format(
      "{} of {} runs finished. Top-1 test error in percent: *final* is the last epoch's, *best* the test error "
      "of the best epoch, the one with the lowest validation error when a run holds out a validation split "
      "(data.val_fraction; its validation error is shown beside it in the runs table), else the lowest test error; "
      "statistics over the finished runs, std is the sample "
      "standard deviation (n - 1). Seeds {}.\n\n",
      finished, runs, summary.seeds.empty() ? std::string("none") : fmt::format("1..{}", summary.seeds.back()));
  md += "| configuration | finished | final: median | mean ± std | min | max | best: median | mean ± std | min | max "
        "| paper | median − paper |\n";
  md += "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& c : summary.configs) {
    const auto& f = c.final_error;
    const auto& b = c.best_error;
    const std::string paper =
        c.paper.present() ? fmt::format("{:.2f}{}", c.paper.error, c.paper.source.empty() ? "" : " (" + c.paper.source + ")")
                          : "—";
    const std::string diff = std::isfinite(c.median_minus_paper) ? fmt::format("{:+.2f}", c.median_minus_paper)
                             : c.paper.present()                 ? "not a reproduction"
                                                                 : "—";
    md += fmt::format("| {} | {}/{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", cell(c.point.name),
                      c.finished(), c.runs.size(), pct(f.median), mean_std(f), pct(f.min), pct(f.max), pct(b.median),
                      mean_std(b), pct(b.min), pct(b.max), cell(paper), diff);
  }
  for (const auto& c : summary.configs) {
    if (!c.paper.present()) continue;
    if (!c.preset_found) {
      md += fmt::format("\n`{}`: its preset is not one of this wrn's, so the recipe could not be checked against the "
                        "paper's (not a reproduction).\n",
                        c.point.name);
    } else if (!c.recipe_changes.empty()) {
      md += fmt::format("\n`{}` changes the preset's recipe, so the paper's number is not its reproduction:\n\n",
                        c.point.name);
      for (const auto& ch : c.recipe_changes) md += fmt::format("- `{}`\n", ch);
    }
  }
  md += "\n![final test error per seed](spread.png)\n\n## Runs\n\n";
  md += "| configuration | seed | state | epochs | final | best | run directory |\n";
  md += "|---|---|---|---|---|---|---|\n";
  for (const auto& c : summary.configs)
    for (const auto& r : c.runs)
      md += fmt::format("| {} | {} | {} | {}/{} | {} | {} | {} |\n", cell(c.point.name), r.seed, to_string(r.state),
                        r.epochs_done, c.epochs, pct(r.final_test_error),
                        r.best_chosen_on == "validation"
                            ? fmt::format("{} (chosen on validation: {})", pct(r.best_test_error), pct(r.best_val_error))
                            : pct(r.best_test_error),
                        cell(r.dir));
  return md;
}

void write_summary(const std::string& sweep_dir, const SweepSummary& summary) {
  const fs::path dir(sweep_dir);
  write_file_atomically((dir / "summary.json").string(), summary_json(summary).dump(2) + "\n");
  write_file_atomically((dir / "summary.md").string(), summary_markdown(summary));
  std::vector<SpreadColumn> columns;
  bool any_paper = false;
  for (const auto& c : summary.configs) {
    SpreadColumn col;
    for (const auto& [k, v] : c.point.overrides) col.label += (col.label.empty() ? "" : "\n") + k + "=" + v;
    if (col.label.empty()) col.label = c.point.name;
    for (const auto& r : c.runs)
      if (r.state == RunState::Finished) col.values.push_back(r.final_test_error);
    col.median = c.final_error.median;
    col.reference = c.paper.present() ? c.paper.error : kNaN;
    any_paper = any_paper || c.paper.present();
    columns.push_back(std::move(col));
  }
  SpreadPlotOptions po;
  po.title = fmt::format("{}: final test error over {} seed{}{}", summary.spec.preset.empty() ? "sweep" : summary.spec.preset,
                         summary.seeds.size(), summary.seeds.size() == 1 ? "" : "s", any_paper ? " (dashed: paper)" : "");
  plot_spread((dir / "spread.png").string(), columns, po);
}

// ---- The loop ----

SweepSummary run_sweep(const SweepPlan& plan, const std::string& sweep_dir, const SweepOptions& options) {
  check_or_write_definition(sweep_dir, plan.spec);
  auto log = options.log;
  if (!log) log = [quiet = options.run.quiet](const std::string& line) {
    if (!quiet) fmt::print(stderr, "{}\n", line);
  };
  auto train_run = options.train_run;
  if (!train_run) train_run = [&](const TrainConfig& c, const std::string& d) { train(c, d, options.run); };
  auto resume_run = options.resume_run;
  if (!resume_run) resume_run = [&](const std::string& d) { resume(d, options.run); };

  std::set<std::string> diverged;  // run directories
  auto summarize = [&] {
    SweepSummary s;
    s.spec = plan.spec;
    s.seeds = plan.seeds;
    for (size_t p = 0; p < plan.points.size(); ++p) {
      std::vector<SweepRunStatus> runs;
      for (uint64_t seed : plan.seeds) {
        const auto dir = plan.run_dir(sweep_dir, p, seed);
        auto r = inspect_run(dir, plan.configs[p].epochs);
        r.seed = seed;
        r.dir = fs::path(dir).lexically_relative(sweep_dir).string();
        if (diverged.count(dir) && r.state != RunState::Finished) r.state = RunState::Diverged;
        runs.push_back(std::move(r));
      }
      s.configs.push_back(summarize_config(plan.points[p], plan.configs[p], std::move(runs)));
    }
    write_summary(sweep_dir, s);
    return s;
  };

  summarize();
  const size_t total = plan.points.size() * plan.seeds.size();
  size_t index = 0;
  for (size_t p = 0; p < plan.points.size(); ++p) {
    for (uint64_t seed : plan.seeds) {
      ++index;
      const auto dir = plan.run_dir(sweep_dir, p, seed);
      const auto status = inspect_run(dir, plan.configs[p].epochs);
      const std::string what = fmt::format("sweep: run {}/{}: {} seed {}", index, total, plan.points[p].name, seed);
      if (status.state == RunState::Finished) {
        log(fmt::format("{}: already finished ({} epochs), skipped", what, status.epochs_done));
        continue;
      }
      try {
        if (status.state == RunState::Partial) {
          log(fmt::format("{}: resuming after epoch {}", what, status.epochs_done));
          resume_run(dir);
        } else {
          log(fmt::format("{}: training", what));
          TrainConfig config = plan.configs[p];
          config.seed = seed;
          train_run(config, dir);
        }
      } catch (const TrainingDiverged& e) {
        log(fmt::format("{}: diverged: {}", what, one_line_message(e)));
        diverged.insert(dir);
      }
      summarize();
    }
  }
  auto summary = summarize();
  if (!diverged.empty()) {
    std::vector<std::string> names;
    for (const auto& d : diverged) names.push_back(fs::path(d).lexically_relative(sweep_dir).string());
    throw Error(fmt::format("sweep: {} of {} runs diverged ({}); see {}", diverged.size(), total, join(names, ", "),
                            (fs::path(sweep_dir) / "summary.md").string()));
  }
  log(fmt::format("sweep: done, {} runs; see {}", total, (fs::path(sweep_dir) / "summary.md").string()));
  return summary;
}

}  // namespace wrn::train
