#include "wrn/train/trainer.h"

#include <torch/cuda.h>

#include <algorithm>
#include <filesystem>
#include <optional>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/core/memory.h"
#include "wrn/core/threads.h"
#include "wrn/io/weights_file.h"
#include "wrn/setup/layout_probe.h"
#include "wrn/train/engine.h"
#include "wrn/train/run_lock.h"

namespace fs = std::filesystem;

namespace wrn::train {

std::string best_epoch_text(const RunResult& r) {
  if (r.best_epoch <= 0) return "no epoch evaluated";
  const std::string chosen = r.best_chosen_on == "validation"
                                 ? fmt::format("chosen on the validation split, validation error {:.2f}%", r.best_val_error)
                                 : "chosen on the test split";
  return fmt::format("best epoch {} ({}): test error {:.2f}%", r.best_epoch, chosen, r.best_test_error);
}

std::string last_checkpoint_path(const std::string& run_dir) {
  return (fs::path(run_dir) / "checkpoints" / "last.ckpt").string();
}

std::string previous_checkpoint_path(const std::string& run_dir) {
  return (fs::path(run_dir) / "checkpoints" / "previous.ckpt").string();
}

std::string best_checkpoint_path(const std::string& run_dir) {
  return (fs::path(run_dir) / "checkpoints" / "best.ckpt").string();
}

namespace {

// A run from its first step, in a locked run directory: config.yaml, then the engine.
int thread_count(const TrainConfig& config, const RunOptions& options) {
  return config.threads > 0 ? config.threads : options.default_threads;
}

// channels_last: auto, resolved by timing both layouts (setup/layout_probe.h) on this rank's
// share of the batch; under data parallelism every rank measures (all at once, as they will
// train) and rank 0's choice is taken, so the configurations agree. config.yaml keeps the result.
void choose_layout(RunSetup& setup, const RunOptions& options) {
  auto& c = setup.config;
  if (c.channels_last != ChannelsLast::Auto) return;
  const int64_t ranks = options.communicator ? options.communicator->size() : 1;
  const int64_t batch = std::max<int64_t>(2, c.data.batch_size / ranks);
  auto probe = probe_layout(setup.spec, batch, compute_dtype(setup.precision.value), setup.device);
  if (options.communicator) {
    const auto chosen = options.communicator->broadcast_bytes(probe.channels_last ? "1" : "0");
    if (options.communicator->rank() > 0) {
      probe.channels_last = chosen == "1";
      probe.reason = "auto: rank 0's measurement";
    }
  }
  if (probe.channels_last) parameters_to_channels_last(*setup.model);
  c.channels_last = probe.channels_last ? ChannelsLast::Yes : ChannelsLast::No;
  setup.layout_reason = probe.reason;
}

// Data parallel on CUDA: rank r of a node uses GPU LOCAL_RANK ("cuda" and "auto" name no index).
// The configuration keeps its device string (the same on every rank); the setup holds the GPU.
RunSetup create_setup(const TrainConfig& config, const RunOptions& options,
                      const std::vector<torch::Tensor>* normalizer_state = nullptr) {
  auto c = config;
  if (options.communicator && (c.device == "cuda" || (c.device == "auto" && torch::cuda::is_available())))
    c.device = fmt::format("cuda:{}", options.communicator->local_rank());
  auto setup = RunSetup::create(c, true, normalizer_state);
  setup.config.device = config.device;
  choose_layout(setup, options);
  return setup;
}

bool writes_run_dir(const RunOptions& options) { return !options.communicator || options.communicator->rank() == 0; }

RunResult start_run(RunSetup setup, const std::string& run_dir, const RunOptions& options) {
  if (writes_run_dir(options)) {
    // Stale logs from an earlier, checkpoint-less attempt would be appended to: start clean.
    fs::remove(fs::path(run_dir) / "metrics.jsonl");
    write_file_atomically((fs::path(run_dir) / "config.yaml").string(), config_to_string(setup.config));
  }
  Engine engine(std::move(setup), run_dir, options);
  return engine.run();
}

}  // namespace

RunResult train(const TrainConfig& given, const std::string& run_dir, const RunOptions& options) {
  given.validate();
  // A new run gets a new identity (a config.yaml of another run given as --config keeps none of
  // its id); every rank takes rank 0's, so the configurations agree.
  TrainConfig config = given;
  config.run_id = new_run_id();
  if (options.communicator) config.run_id = options.communicator->broadcast_bytes(config.run_id);
  const bool writer = writes_run_dir(options);  // data parallel: only rank 0 touches run_dir
  const fs::path last = last_checkpoint_path(run_dir);
  WRN_CHECK(!writer || !fs::exists(last),
            "'{}' already holds a run (checkpoints/last.ckpt); use 'wrn resume {}' or another --out", run_dir, run_dir);
  configure_threads(thread_count(config, options));
  // Data, model and initial weights first: a bad data set or weight file leaves no run directory.
  auto setup = create_setup(config, options);
  if (!config.model.init_from.empty()) {
    const auto& path = config.model.init_from;
    const bool fine_tune =
        io::load_weights(*setup.model, io::read_weights_file(path).tensors, path, io::FineTune::WhenClassesDiffer);
    if (!options.quiet) {
      fmt::print(stderr, "initialized from {}{}\n", path,
                 fine_tune ? " (classifier re-initialized for the new classes)" : "");
    }
  }
  std::optional<RunDirLock> lock;
  if (writer) {
    fs::create_directories(run_dir);
    lock.emplace(run_dir);  // held until the run ends; checked again under it (two trains started together)
    WRN_CHECK(!fs::exists(last),
              "'{}' already holds a run (checkpoints/last.ckpt); use 'wrn resume {}' or another --out", run_dir, run_dir);
  }
  return start_run(std::move(setup), run_dir, options);
}

namespace {

// What resume() continues from, read by rank 0 (the only rank that needs run_dir): a
// checkpoint's bytes, or the config.yaml of a run that stopped before its first checkpoint.
struct ResumePoint {
  bool has_checkpoint = false;
  std::string bytes;   // the checkpoint file, or config.yaml's text
  std::string source;  // the file they came from
};

ResumePoint find_resume_point(const std::string& run_dir, const RunOptions& options) {
  const auto last = last_checkpoint_path(run_dir), previous = previous_checkpoint_path(run_dir);
  const auto config_path = (fs::path(run_dir) / "config.yaml").string();
  ResumePoint p;
  if (!fs::exists(last) && !fs::exists(previous)) {
    // Stopped before its first checkpoint: nothing was trained yet, the run starts over.
    WRN_CHECK_FILE(fs::exists(config_path), "'{}' has no checkpoint to resume from ({} is missing) and no config.yaml",
                   run_dir, last);
    if (!options.quiet)
      fmt::print(stderr, "wrn: '{}' has no checkpoint yet (the run stopped before its first one): starting it from "
                         "its config.yaml\n", run_dir);
    (void)load_yaml_file(config_path);  // a readable mapping (errors name the file)
    p.bytes = read_file(config_path);
    p.source = config_path;
    return p;
  }
  p.has_checkpoint = true;
  try {
    p.bytes = read_file(last);
    p.source = last;
    (void)io::parse_checkpoint(p.bytes, last);  // readable?
  } catch (const FileError& e) {
    if (!fs::exists(previous)) throw;
    p.bytes = read_file(previous);
    p.source = previous;
    (void)io::parse_checkpoint(p.bytes, previous);
    // Out of the way (kept for inspection): the next save must not make it the previous one.
    const auto unreadable = last + ".unreadable";
    fs::rename(last, unreadable);
    fmt::print(stderr, "wrn: warning: {}; resuming from {} (the checkpoint before it; the unreadable one is now {})\n",
               one_line_message(e), previous, unreadable);
  }
  return p;
}

// Before anything in run_dir is rotated or written: the checkpoint must be this run's (the
// run id of config.yaml), and config.yaml must still say what the checkpoint trains (resume
// continues the checkpoint's configuration, so an edit would be ignored without a word).
void check_same_run(const std::string& run_dir, const TrainConfig& checkpoint_config, const std::string& source,
                    const std::vector<std::string>& ignore) {
  const auto config_path = (fs::path(run_dir) / "config.yaml").string();
  std::error_code ec;
  if (!fs::exists(config_path, ec)) return;  // lost: the checkpoint alone says what the run is
  TrainConfig on_disk;
  try {
    on_disk = config_from_yaml(load_yaml_file(config_path), false);
  } catch (const Error& e) {
    throw ConfigError(fmt::format("{} (resume reads it to check that {} belongs to this run)", one_line_message(e),
                                  source));
  }
  if (!on_disk.run_id.empty() && on_disk.run_id != checkpoint_config.run_id) {
    const std::string whose = checkpoint_config.run_id.empty()
                                  ? "was not written by a wrn train run (wrn import, or a wrn before run ids)"
                                  : fmt::format("belongs to run {}", checkpoint_config.run_id);
    throw ConfigError(fmt::format(
        "{} {}, but {} is run {}: not resuming another run's checkpoint (nothing was changed); put this run's own "
        "checkpoint back, or start a new run (wrn train --init-from {} for its weights)",
        source, whose, config_path, on_disk.run_id, source));
  }
  const auto changed = config_differences(checkpoint_config, on_disk, ignore);
  if (changed.empty()) return;
  throw ConfigError(fmt::format(
      "{}: edited since the run's last checkpoint ({}); resume continues the checkpoint's configuration, so the "
      "edit would be ignored: undo it (wrn resume --epochs N changes the length), or start a new run with it",
      config_path, differences_text(changed)));  // "key: checkpoint -> config.yaml"
}

}  // namespace

RunResult resume(const std::string& run_dir, const RunOptions& options) {
  const bool writer = writes_run_dir(options);
  std::optional<RunDirLock> lock;
  ResumePoint point;
  if (writer) {
    WRN_CHECK_FILE(fs::is_directory(run_dir), "'{}': no such run directory", run_dir);
    lock.emplace(run_dir);
    point = find_resume_point(run_dir, options);
  }
  if (options.communicator) {  // the other ranks get rank 0's files (run_dir need not be shared)
    auto& comm = *options.communicator;
    point.has_checkpoint = comm.broadcast_bytes(point.has_checkpoint ? "1" : "0") == "1";
    point.source = comm.broadcast_bytes(point.source);
    point.bytes = comm.broadcast_bytes(point.bytes);
  }
  const auto config_path = (fs::path(run_dir) / "config.yaml").string();
  auto apply_options = [&](TrainConfig& config) {
    if (options.epochs) config.epochs = *options.epochs;
    if (options.precision) config.precision = *options.precision;
    if (options.epochs || options.precision) config.validate();
  };
  if (!point.has_checkpoint) {
    auto config = config_from_yaml(YAML::Load(point.bytes));
    apply_options(config);
    configure_threads(thread_count(config, options));
    return start_run(create_setup(config, options), run_dir, options);
  }
  const io::Checkpoint ck = io::parse_checkpoint(point.bytes, point.source);
  point.bytes = std::string();  // the parsed copy is enough
  const auto yaml = YAML::Load(ck.config_yaml);
  auto config = config_from_yaml(yaml);
  if (writer) {
    // What this resume sets anew may differ (an earlier `resume --epochs N` rewrote config.yaml
    // and stopped before its next checkpoint).
    std::vector<std::string> renewed{"run_id"};
    if (options.epochs) renewed.push_back("epochs");
    if (options.precision) renewed.push_back("precision");
    check_same_run(run_dir, config, point.source, renewed);
  }
  // A run from before `precision` existed trained in fp32: it continues in fp32 (bitwise), not in auto's choice.
  if (!yaml["precision"]) config.precision = Precision::Fp32;
  apply_options(config);
  configure_threads(thread_count(config, options));
  auto setup = create_setup(config, options, &ck.normalizer);  // resolves the precision
  const std::string new_config = config_to_string(setup.config);
  Engine engine(std::move(setup), run_dir, options);
  engine.restore(ck, point.source);
  // Only once the checkpoint is restored: a refused one leaves config.yaml as it was.
  if (writer && (options.epochs || options.precision)) write_file_atomically(config_path, new_config);
  return engine.run();
}

}  // namespace wrn::train
