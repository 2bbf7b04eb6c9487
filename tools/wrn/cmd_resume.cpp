// wrn resume RUN_DIR: continues an interrupted run from its last checkpoint; on the CPU with
// the same thread count the result is bitwise that of an uninterrupted run.
#include <fmt/format.h>

#include "command.h"
#include "distributed.h"
#include "common_options.h"
#include "wrn/train/trainer.h"

namespace {

void add_resume_command(CLI::App& app) {
  struct Args {
    std::string run_dir;
    std::optional<int64_t> epochs;
    bool quiet = false;
    std::string precision;
  };
  auto args = std::make_shared<Args>();
  auto dargs = std::make_shared<wrn::cli::DistributedArgs>();
  auto* cmd = app.add_subcommand("resume", "Continue an interrupted training run from its last checkpoint");
  cmd->footer("Example:\n  wrn resume runs/demo --epochs 20");
  cmd->add_option("run_dir", args->run_dir, "Run directory written by 'wrn train --out'")->required();
  cmd->add_option("--epochs", args->epochs, "New total number of epochs (extends a finished run)");
  cmd->add_option("--precision", args->precision,
                  std::string(wrn::cli::kPrecisionHelp) + " (default: the run's; another one is not bitwise)");
  cmd->add_flag("--quiet", args->quiet, "No progress output");
  wrn::cli::add_distributed_options(cmd, *dargs);
  cmd->callback([args, dargs] {
    wrn::cli::launch_if_asked(*dargs, args->quiet);  // --nproc-per-node: this process only runs the workers
    wrn::train::RunOptions options;
    options.quiet = args->quiet;
    options.stop_on_signals = true;  // Ctrl-C / SIGTERM: finish the step, save, exit 130 / 143
    options.epochs = args->epochs;
    if (!args->precision.empty()) options.precision = wrn::parse_precision(args->precision, "--precision");
    // The run's own distributed.timeout is not known before its checkpoint is read: the default.
    wrn::cli::join_world(options, wrn::train::DistributedConfig().timeout);
    auto r = wrn::train::resume(args->run_dir, options);
    if (!wrn::cli::is_root_process()) return;
    wrn::cli::print_resumed_summary(r, args->run_dir);
  });
}

}  // namespace

WRN_REGISTER_COMMAND(31, add_resume_command);
