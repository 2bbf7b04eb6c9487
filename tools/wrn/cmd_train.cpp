// wrn train: trains a network from a preset (or a YAML file) with command-line overrides,
// writing a run directory (config.yaml, metrics.jsonl, checkpoints, curves.png, TensorBoard
// events, report.md).
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "command.h"
#include "common_options.h"
#include "distributed.h"
#include "output_rule.h"
#include "wrn/core/error.h"
#include "wrn/core/text.h"
#include "wrn/data/dataset.h"
#include "wrn/data/download.h"
#include "wrn/config/config.h"
#include "wrn/train/trainer.h"

namespace {

// For a data set `wrn download` fetches: " run 'wrn download cifar10' (or pass --data DIR)",
// else "".
std::string download_hint(const wrn::train::TrainConfig& config) {
  const std::string& kind = config.data.kind;
  const std::string name = kind == "cifar100-coarse" ? "cifar100" : kind;
  const auto names = wrn::data::downloadable_datasets();
  if (std::find(names.begin(), names.end(), name) == names.end()) return "";
  const bool default_dir = config.data.dir.empty() || config.data.dir == wrn::data::default_data_dir(kind);
  return fmt::format("; run 'wrn download {}{}' (or pass --data DIR)", name,
                     default_dir ? "" : " --dir " + config.data.dir);
}

// Trains, adding download_hint() to an error about a missing data file.
wrn::train::RunResult train_with_data_hint(const wrn::train::TrainConfig& config, const std::string& out,
                                           const wrn::train::RunOptions& options) {
  const std::string dir = config.data.dir.empty() ? wrn::data::default_data_dir(config.data.kind) : config.data.dir;
  const std::string hint = download_hint(config);
  try {
    return wrn::train::train(config, out, options);
  } catch (const wrn::FileError& e) {
    std::string msg = e.what();
    const auto first_line_end = std::min(msg.find('\n'), msg.size());
    if (hint.empty() || msg.substr(0, first_line_end).find(dir) == std::string::npos) throw;
    msg.insert(first_line_end, hint);
    throw wrn::FileError(msg);
  }
}

// --resume-if-exists continues only the run this command would start: its recipe (model,
// data, epochs, optimizer, ...) and seed must be config.yaml's. Operational settings (threads,
// device, precision, checkpointing) may differ; the run keeps its own, as wrn resume does.
void check_same_recipe(const std::string& out, const wrn::train::TrainConfig& config) {
  const auto path = (std::filesystem::path(out) / "config.yaml").string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;  // checkpoints alone: resume reads the run from them
  const auto on_disk = wrn::train::config_from_yaml(wrn::train::load_yaml_file(path), false);
  // "key: this command -> config.yaml"; what the run resolved from its data (input, classes)
  // counts as the same when the command leaves it to the data.
  auto changed = wrn::train::recipe_differences(on_disk, config);
  // Not part of a recipe, but another seed is another run (another result).
  if (on_disk.seed != config.seed)
    changed.insert(changed.begin(), fmt::format("seed: {} -> {}", config.seed, on_disk.seed));
  if (changed.empty()) return;
  throw wrn::ConfigError(fmt::format(
      "--out {} holds another run (this command -> its config.yaml: {}); not continuing it: use another --out, "
      "'wrn resume {}' to continue that run, or --force instead of --resume-if-exists to replace it",
      out, wrn::train::differences_text(changed), out));
}

void add_train_command(CLI::App& app) {
  struct Args {
    std::string preset;
    std::vector<std::string> sets;
    std::string out;
    std::optional<int64_t> epochs, batch_size, seed;
    std::optional<int> threads;
    std::string model, data, device, init_from, precision;
    bool quiet = false, list = false, print_config = false, print_config_doc = false, force = false;
    bool resume_if_exists = false;
  };
  auto args = std::make_shared<Args>();
  auto dargs = std::make_shared<wrn::cli::DistributedArgs>();
  auto* cmd = app.add_subcommand("train", "Train a network (from a preset or a YAML config) into a run directory");
  cmd->footer(
      "Example:\n  wrn train --preset demo --set optimizer.lr=0.05 --epochs 5 --out runs/try\n"
      "  wrn train --set data.kind=folder --data DIR --set data.image_size=64 --out runs/mine\n"
      "Image folders: DIR/train/<class>/*.png|jpg with DIR/val/ or DIR/test/ (or a val.txt list of path<TAB>label).\n"
      "Preprocessing (stored in the checkpoint; eval, predict and export apply it): data.channels (1|3),\n"
      "data.image_size (H or HxW), data.train_transform pad_crop|random_resized_crop|none (+ data.augment.flip),\n"
      "data.eval_transform resize|resize_center_crop (data.eval_resize), data.normalize. data.storage\n"
      "auto|memory|stream, data.workers, data.val_fraction, data.on_bad_image fail|skip. See --print-config.\n"
      "Data parallel: wrn train --nproc-per-node 2 ... (or under torchrun --no-python); data.batch_size is the\n"
      "global batch; model.sync_bn, distributed.timeout. Multi-node: the same command on every node with\n"
      "--nnodes N --node-rank R --master-addr HOST0 --master-port P.");
  cmd->add_option("--preset,--config", args->preset,
                  "Preset name (see --list-presets) or path to a YAML config file");
  cmd->add_option("--set", args->sets, "Override a config field: a.b=value (e.g. optimizer.lr=0.05); repeatable");
  cmd->add_option("--out", args->out, "Run directory to create");
  cmd->add_option("--epochs", args->epochs, "Number of epochs (epochs)");
  cmd->add_option("--model", args->model, "Model name (model.name), e.g. wrn-16-4");
  cmd->add_option("--data", args->data, "Data set directory (data.dir)");
  wrn::cli::add_device_option(cmd, args->device, "device");
  wrn::cli::add_threads_option(cmd, args->threads, "threads");
  cmd->add_option("--precision", args->precision,
                  "fp32, bf16, fp16 (CUDA) or auto: bf16 where the CPU/GPU has bf16 hardware (precision)");
  cmd->add_option("--seed", args->seed, "Random seed (seed)");
  wrn::cli::add_batch_size_option(cmd, args->batch_size, "Training batch size (data.batch_size)");
  cmd->add_option("--init-from", args->init_from,
                  "Start from these weights: a wrn checkpoint, .pt or .safetensors (model.init_from); a "
                  "classifier of another size is re-initialized (fine-tuning)");
  cmd->add_flag("--force", args->force,
                "Replace a run already in --out (its checkpoints and logs are deleted first)");
  cmd->add_flag("--resume-if-exists", args->resume_if_exists,
                "When --out already holds this run (same recipe), continue it from its last checkpoint as 'wrn "
                "resume' would, else start it: the same command can be run again after a failure. Restarted "
                "workers (torchrun or --max-restarts: TORCHELASTIC_RESTART_COUNT > 0) do this by themselves");
  cmd->add_flag("--quiet", args->quiet, "No progress output");
  cmd->add_flag("--list-presets", args->list, "List the shipped presets and exit");
  cmd->add_flag("--print-config", args->print_config, "Print the resolved config and exit");
  cmd->add_flag("--print-config-doc", args->print_config_doc,
                "Print every config field (key, type, default, allowed values, doc) as markdown and exit");
  wrn::cli::add_distributed_options(cmd, *dargs);
  cmd->callback([args, dargs] {
    namespace t = wrn::train;
    if (args->print_config_doc) {
      fmt::print("{}", t::config_doc_markdown());
      return;
    }
    if (args->list) {
      fmt::print("presets in {}:\n", t::preset_dir());
      for (const auto& name : t::preset_names()) {
        auto c = t::config_from_yaml(t::load_yaml_file(t::find_preset(name)));
        fmt::print("  {:<22} {}{}\n", name, c.description,
                   c.paper.present() ? fmt::format(" (paper: {:.2f}% error, {})", c.paper.error, c.paper.source) : "");
      }
      return;
    }
    YAML::Node root(YAML::NodeType::Map);
    if (!args->preset.empty()) {
      root = t::load_yaml_file(t::find_preset(args->preset));
      if (!root.IsMap()) root = YAML::Node(YAML::NodeType::Map);
    }
    for (const auto& s : args->sets) t::apply_override(root, s);
    auto set = [&](const std::string& key, const std::string& value) { t::apply_override(root, key + "=" + value); };
    if (args->epochs) set("epochs", std::to_string(*args->epochs));
    if (!args->model.empty()) set("model.name", args->model);
    if (!args->data.empty()) set("data.dir", args->data);
    if (!args->device.empty()) set("device", args->device);
    if (!args->precision.empty()) set("precision", args->precision);
    if (args->threads) set("threads", std::to_string(*args->threads));
    if (args->seed) set("seed", std::to_string(*args->seed));
    if (args->batch_size) set("data.batch_size", std::to_string(*args->batch_size));
    if (!args->init_from.empty()) set("model.init_from", args->init_from);
    auto config = t::config_from_yaml(root);
    if (args->print_config) {
      fmt::print("{}", t::config_to_string(config));
      return;
    }
    WRN_CHECK(!args->out.empty(), "wrn train needs --out RUN_DIR");
    const bool root_rank = wrn::cli::is_root_process();  // data parallel: rank 0 (or the launcher) checks --out
    const int restart = wrn::cli::restart_count();
    const bool continue_existing = args->resume_if_exists || restart > 0;
    WRN_CHECK(!(continue_existing && args->force),
              "--force and --resume-if-exists (or a restarted worker, TORCHELASTIC_RESTART_COUNT={}): give one or "
              "the other", restart);
    // Rank 0 (or the launcher) decides whether --out holds the run to continue; the ranks follow.
    bool resume_run = root_rank && continue_existing && wrn::cli::holds_resumable_run(args->out);
    if (resume_run) check_same_recipe(args->out, config);
    const bool replace = root_rank && !resume_run && wrn::cli::check_run_dir(args->out, args->force);
    {  // A missing data set is reported before anything in --out is replaced.
      const std::string dir = config.data.dir.empty() ? wrn::data::default_data_dir(config.data.kind) : config.data.dir;
      const std::string hint = download_hint(config);
      std::error_code ec;
      WRN_CHECK_FILE(hint.empty() || std::filesystem::is_directory(dir, ec), "{}: no {} data set here (data.dir){}",
                     dir, config.data.kind, hint);
    }
    if (replace) {
      wrn::cli::remove_run(args->out);
      if (!args->quiet) fmt::print(stderr, "--force: deleted the earlier run in {}\n", args->out);
    }
    wrn::cli::launch_if_asked(*dargs, args->quiet);  // --nproc-per-node: this process only runs the workers
    t::RunOptions options;
    options.quiet = args->quiet;
    options.stop_on_signals = true;  // Ctrl-C / SIGTERM: finish the step, save, exit 130 / 143
    wrn::cli::join_world(options, config.distributed.timeout);  // RANK/WORLD_SIZE set: one rank of several
    if (options.communicator) resume_run = options.communicator->broadcast_bytes(resume_run ? "1" : "0") == "1";
    if (resume_run) {
      if (root_rank)
        fmt::print(stderr, "wrn: {}: continuing the run in {} from its last checkpoint (as wrn resume)\n",
                   restart > 0 ? fmt::format("restart {}", restart) : std::string("--resume-if-exists"), args->out);
      auto r = wrn::train::resume(args->out, options);
      if (!root_rank) return;
      wrn::cli::print_resumed_summary(r, args->out);
      return;
    }
    auto r = train_with_data_hint(config, args->out, options);
    if (!root_rank) return;
    fmt::print("done: {} epochs, final test error {:.2f}%, {}, {:.0f} s; see {}/report.md\n", r.epochs_completed,
               r.final_test_error, wrn::train::best_epoch_text(r), r.wall_seconds, args->out);
  });
}

}  // namespace

WRN_REGISTER_COMMAND(30, add_train_command);
