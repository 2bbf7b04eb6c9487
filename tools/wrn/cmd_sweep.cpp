// wrn sweep: every configuration of a grid x seeds 1..N, one run directory each, trained one
// after the other in this process; summary.json, summary.md and spread.png show the spread
// over the seeds beside the paper's number. Run the same command again to continue a killed
// sweep (sweep/sweep.h).
#include <fmt/format.h>

#include <filesystem>

#include "command.h"
#include "common_options.h"
#include "wrn/core/error.h"
#include "wrn/data/dataset.h"
#include "wrn/sweep/sweep.h"

namespace {

void add_sweep_command(CLI::App& app) {
  struct Args {
    wrn::train::SweepSpec spec;
    std::string out;
    bool quiet = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("sweep", "Train a grid of configurations x seeds 1..N and summarize the spread");
  cmd->footer(
      "Example:\n  wrn sweep --preset demo --seeds 3 --grid optimizer.lr=0.05,0.1 --set epochs=5 --out sweeps/lr\n"
      "Runs DIR/<configuration>/seed-<s>/ (each a 'wrn train' run directory) one after the other; a killed sweep\n"
      "continues (finished runs are skipped, interrupted ones resumed) when the same command runs again. Writes\n"
      "DIR/summary.json, DIR/summary.md (median, mean +- std, min, max of the final and best test error per\n"
      "configuration, beside the paper's number) and DIR/spread.png after each run.");
  cmd->add_option("--preset,--config", args->spec.preset,
                  "Preset name (see 'wrn train --list-presets') or path to a YAML config file");
  cmd->add_option("--seeds", args->spec.seeds, "Runs seeds 1..N of every configuration")->required()->check(CLI::PositiveNumber);
  cmd->add_option("--grid", args->spec.grid,
                  "A grid axis: key=v1,v2,... (e.g. optimizer.lr=0.05,0.1); repeatable, the configurations are "
                  "their cartesian product");
  cmd->add_option("--set", args->spec.sets, "Override a config field of every run: a.b=value; repeatable");
  cmd->add_option("--out", args->out, "Sweep directory (created; the same command continues it)")->required();
  wrn::cli::add_threads_option(cmd, args->spec.threads, "threads, of every run");
  cmd->add_option("--precision", args->spec.precision, std::string(wrn::cli::kPrecisionHelp) + " (precision)");
  cmd->add_flag("--quiet", args->quiet, "No progress output");
  cmd->callback([args] {
    namespace t = wrn::train;
    const auto plan = t::plan_sweep(args->spec);  // every configuration checked before anything runs
    for (const auto& c : plan.configs) {  // a missing data set is said before the sweep directory is made
      const std::string dir = c.data.dir.empty() ? wrn::data::default_data_dir(c.data.kind) : c.data.dir;
      std::error_code ec;
      WRN_CHECK_FILE(std::filesystem::is_directory(dir, ec),
                     "{}: no {} data set here (set data.dir with --set, or see 'wrn download --help')", dir, c.data.kind);
    }
    t::SweepOptions options;
    options.run.quiet = args->quiet;
    options.run.stop_on_signals = true;  // Ctrl-C / SIGTERM: the run saves and the sweep stops; rerun to continue
    t::SweepSummary summary;
    try {
      summary = t::run_sweep(plan, args->out, options);
    } catch (const t::TrainingInterrupted& e) {  // exit 130 / 143, naming the way on for a sweep
      throw t::TrainingInterrupted(e.signal(), std::string(e.what()) + "; or run the same 'wrn sweep' command again");
    }
    for (const auto& c : summary.configs)
      fmt::print("{}: {} of {} runs, final test error median {:.2f}%{}\n", c.point.name, c.finished(), c.runs.size(),
                 c.final_error.median,
                 c.paper.present() ? fmt::format(" (paper {:.2f}%, {:+.2f})", c.paper.error, c.median_minus_paper) : "");
    fmt::print("see {}/summary.md\n", args->out);
  });
}

}  // namespace

WRN_REGISTER_COMMAND(33, add_sweep_command);
