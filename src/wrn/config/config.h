// The training configuration: a tree of plain structs, read from YAML with every field
// validated, overridable with `--set a.b=value`, and written back as the run's config.yaml.
//
// Every field is declared once, in the field table (config_fields(), in config.cpp): its
// key, type, default (the struct's), allowed values or range, a one-line doc and how to
// reach the member. Reading, writing, validate()'s per-field ranges, `--print-config` and
// docs/config.md (config_doc_markdown()) all come from it.
//
// Reading is strict: an unknown key anywhere is a wrn::ConfigError naming its full path
// ("data.augmnt") with a did-you-mean suggestion; a value of the wrong type names the key
// and what was expected; an enum value not in its list names the allowed values. Presets
// are YAML files in presets/ (see find_preset).
#pragma once

#include <yaml-cpp/yaml.h>

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "wrn/config/presets.h"  // preset_dir, preset_names, find_preset
#include "wrn/core/enum_names.h"
#include "wrn/core/precision.h"
#include "wrn/data/augment.h"
#include "wrn/data/preprocessing.h"
#include "wrn/optim/lr_schedule.h"
#include "wrn/optim/optimizer_factory.h"
#include "wrn/optim/weight_average.h"

namespace wrn::train {

// A published number the preset reproduces (shown in report.md).
struct PaperConfig {
  double error = std::numeric_limits<double>::quiet_NaN();  // top-1 test error, percent
  std::string source;
  bool present() const { return error == error; }
};

struct ModelConfig {
  std::string name = "wrn-16-4";
  int64_t classes = 0;     // 0: the data set's class count
  std::string input;       // "CxHxW"; empty: the data set's image shape
  std::vector<std::pair<std::string, std::string>> settings;  // e.g. {"dropout", "0.3"}
  // Weights to start from (a wrn checkpoint, .pt or .safetensors state_dict); empty: the
  // initialization. A classifier of another shape is re-initialized (fine-tuning). Read
  // by train() (io/weights_file.h: wrn checkpoints, .pt and .safetensors files).
  std::string init_from;
  bool sync_bn = false;    // data-parallel: BatchNorm statistics over the global batch
};

// The data layer's own option structs serve as the config sections (no mirror copies).
using AugmentConfig = data::AugmentOptions;
using NormalizeConfig = data::NormalizeOptions;

// The name lists of other layers' enums live beside the enums (core/precision.h,
// data/augment.h, data/preprocessing.h); the config table uses them as they are.
using data::kEvalTransforms;
using data::kPadModes;
using data::kTrainTransforms;
// The policy names as config files spell them (data/auto_augment.h's enum has no text form).
inline constexpr std::array<EnumName<data::AutoAugmentKind>, 3> kAutoAugmentKinds{
    {{data::AutoAugmentKind::None, "none"},
     {data::AutoAugmentKind::TrivialAugmentWide, "trivialaugment"},
     {data::AutoAugmentKind::RandAugment, "randaugment"}}};


// Where an image folder's decoded images live during training.
enum class Storage { Auto, Memory, Stream };
inline constexpr std::array<EnumName<Storage>, 3> kStorages{
    {{Storage::Auto, "auto"}, {Storage::Memory, "memory"}, {Storage::Stream, "stream"}}};
inline const char* to_string(Storage v) { return enum_name(kStorages, v); }

// channels_last: the model and batches in NCHW (false), channels-last (true), or whichever a
// training step measures faster at the start of the run (auto: setup/layout_probe.h); a run's
// config.yaml and checkpoints hold the resolved value.
enum class ChannelsLast { No, Yes, Auto };
inline constexpr std::array<EnumName<ChannelsLast>, 3> kChannelsLast{
    {{ChannelsLast::No, "false"}, {ChannelsLast::Yes, "true"}, {ChannelsLast::Auto, "auto"}}};

enum class OnBadImage { Fail, Skip };
inline constexpr std::array<EnumName<OnBadImage>, 2> kOnBadImage{{{OnBadImage::Fail, "fail"}, {OnBadImage::Skip, "skip"}}};

// The image options (data::ImageOptions: image_size, channels, train/eval transforms) are
// members of the data section itself: data.image_size, data.channels, ...
struct DataConfig : data::ImageOptions {
  std::string kind = "cifar10";      // see wrn::data::dataset_kinds()
  std::string dir;                   // empty: wrn::data::default_data_dir(kind)
  std::string train_split = "train";
  std::string test_split = "test";
  int64_t batch_size = 128;
  int64_t test_batch_size = 0;       // 0: 2 x batch_size
  int64_t limit_train = 0;           // > 0: a seeded, stratified subset of N training images
  int64_t limit_test = 0;            // > 0: a seeded, stratified subset of N test images
  double val_fraction = 0;           // > 0: this share of the train split held out (stratified) to choose best.ckpt
  Storage storage = Storage::Auto;   // image folders: decoded in memory, or streamed from the files
  int workers = 0;                   // streaming decode threads; 0: the hardware threads
  OnBadImage on_bad_image = OnBadImage::Fail;
  AugmentConfig augment;
  NormalizeConfig normalize;
};

struct LossConfig {
  double label_smoothing = 0;  // cross-entropy against (1 - s) onehot + s / classes
};

struct CheckpointConfig {
  int64_t every_steps = 0;      // > 0: also checkpoint every N steps inside an epoch
  double every_seconds = 300;   // > 0: also checkpoint when this long has passed since the last
  bool keep_best = true;        // checkpoints/best.ckpt at the lowest validation error (data.val_fraction), else test error
};

// Data-parallel training (train/data_parallel.h): used when the process is one rank of several.
struct DistributedConfig {
  double timeout = 300;    // seconds a collective waits for the other ranks before failing
  double bucket_mb = 25;   // gradient allreduce bucket size
  bool overlap = true;     // start each bucket's allreduce during the backward pass, as its gradients become final
};

struct TrainConfig {
  std::string preset;        // the preset's name (informational)
  // Set by wrn train when the run starts (random hex), so config.yaml and every checkpoint of the
  // run carry it: resume refuses a checkpoint of another run copied into the run directory.
  std::string run_id;
  std::string description;   // one line, free text
  PaperConfig paper;
  ModelConfig model;
  DataConfig data;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  int64_t epochs = 200;
  uint64_t seed = 1;
  std::string device = "cpu";  // "cpu", "auto" (CUDA when available), "cuda", "cuda:N"
  int threads = 0;             // intra-op threads; 0: all cores
  int64_t eval_every = 1;      // test every N epochs (and always after the last)
  ChannelsLast channels_last = ChannelsLast::No;  // model and batches in channels-last memory format
  bool uses_channels_last() const { return channels_last == ChannelsLast::Yes; }  // Auto: not yet resolved
  // Arithmetic precision (core/precision.h). train() resolves auto before writing config.yaml,
  // so a run's config and checkpoints hold what it ran in.
  Precision precision = Precision::Auto;
  CheckpointConfig checkpoint;
  DistributedConfig distributed;
  LossConfig loss;
  data::MixOptions mix;    // mixup / CutMix of each training batch
  EmaConfig ema;           // exponential moving average of the weights
  int64_t log_every_steps = 0;  // > 0: loss, lr and images/s every N steps to steps.jsonl and TensorBoard
  bool eval_tta = false;        // each epoch's evaluation averages every image with its mirror (eval --tta)

  // Every field's range and allowed values (from the table), then the cross-field rules.
  // Throws wrn::ConfigError naming the field.
  void validate() const;
};

// The recipe fields (model, data, epochs, optimizer, schedule, augmentation, regularizers,
// data limits) where `run` differs from `reference`, as "key: reference -> run" lines in
// table order. Not part of a recipe, so never listed: the seed, device, threads, precision,
// memory format, checkpointing, evaluation frequency, logging, data-parallel settings,
// data location and decoding threads, the run id, and the informational preset/description/paper.
std::vector<std::string> recipe_differences(const TrainConfig& run, const TrainConfig& reference);
// recipe_differences against the shipped preset `run.preset`; nullopt when the run names no
// preset or this wrn does not ship it (a renamed or private file: nothing to check against).
std::optional<std::vector<std::string>> changes_from_preset(const TrainConfig& run);

// Every field (the operational ones too) where `b` differs from `a`, as "key: a -> b" lines in
// table order; `ignore` lists keys (or "section." prefixes) left out.
std::vector<std::string> config_differences(const TrainConfig& a, const TrainConfig& b,
                                            const std::vector<std::string>& ignore = {});

// Lines of config_differences / recipe_differences for a one-line message: the first five,
// each cut to 120 characters, joined by "; ", then "and N more".
std::string differences_text(const std::vector<std::string>& lines);

// A fresh run identity: 16 hex digits from the system's random source.
std::string new_run_id();

// Bounds on what a config may hold (config files are hand-written; far larger input is a
// mistake or an attack, refused in one line before it costs memory).
inline constexpr size_t kMaxConfigFileBytes = 1 << 20;  // 1 MiB
inline constexpr size_t kMaxConfigString = 4096;        // characters in one string value
inline constexpr size_t kMaxConfigList = 10000;         // elements in one list or settings mapping
inline constexpr size_t kMaxConfigNodes = 100000;       // nodes of one YAML tree (aliases counted once)

// ---- The field table ----

enum class FieldType { String, Int, UInt, Float, Bool, FloatList, Enum, Settings };

// One config field. `key` is the dotted path from the top level ("data.augment.pad_mode");
// the section is everything before the last dot.
struct ConfigField {
  std::string key;
  FieldType type = FieldType::String;
  std::string doc;                   // one line
  std::vector<std::string> allowed;  // Enum: its names; String: a closed list when non-empty
  // Numeric range, checked by validate() (for a FloatList, on every element).
  std::optional<double> min, max;
  bool min_exclusive = false, max_exclusive = false;
  // Left out of config.yaml while at its default (informational fields: preset, paper, ...);
  // absence reads back as the default, so nothing is lost.
  bool omit_default = false;
  std::string example;  // a valid value other than the default, as YAML (tests, docs)

  // The member's value as a YAML node (what config.yaml holds).
  std::function<YAML::Node(const TrainConfig&)> write;
  // Sets the member from a (defined, non-null) node; throws wrn::ConfigError naming `key`.
  std::function<void(TrainConfig&, const YAML::Node&)> read;
  // Numeric fields: the value(s) checked against [min, max].
  std::function<std::vector<double>(const TrainConfig&)> numbers;

  std::string range_text() const;  // ">= 1", "> 0", "[0, 1)", ...; empty without a range
};

struct ConfigSection {
  std::string path;  // "data.augment"
  std::string doc;   // one line
};

// The table, in config.yaml order; and the sections (mappings) that hold its fields.
const std::vector<ConfigField>& config_fields();
const std::vector<ConfigSection>& config_sections();

// Strict conversion from a YAML mapping (all keys optional: absent keys keep the defaults),
// then validate() (unless `validate` is false: types, enum values and unknown keys only).
TrainConfig config_from_yaml(const YAML::Node& root, bool validate = true);
// The full tree, every field present (except omit_default ones at their defaults), as YAML.
YAML::Node config_to_yaml(const TrainConfig& config);
std::string config_to_string(const TrainConfig& config);

// The option list of docs/config.md (markdown), rendered from the table.
std::string config_doc_markdown();

// Reads a YAML file (wrn::FileError when missing or not valid YAML, naming the file and line).
YAML::Node load_yaml_file(const std::string& path);

// Applies "a.b.c=value" to a YAML tree: the value is parsed as YAML ("0.1", "true",
// "[1, 2, 3]", "{dropout: 0.3}"), intermediate maps are created. Unknown keys are caught
// later by config_from_yaml. Throws wrn::ConfigError for text without '=' or an empty key.
void apply_override(YAML::Node& root, const std::string& key_equals_value);

}  // namespace wrn::train
