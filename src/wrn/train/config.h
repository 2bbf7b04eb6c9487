// The training configuration: a tree of plain structs, read from YAML with every field
// validated, overridable with `--set a.b=value`, and written back as the run's config.yaml.
//
// Reading is strict: an unknown key anywhere is a wrn::ConfigError naming its full path
// ("data.augmnt") with a did-you-mean suggestion; a value of the wrong type names the key
// and what was expected. Presets are YAML files in presets/ (see find_preset).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "wrn/train/lr_schedule.h"
#include "wrn/train/presets.h"  // preset_dir, preset_names, find_preset
#include "wrn/train/sgd.h"

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
  // through RunOptions::load_weights (the tool supplies the file readers).
  std::string init_from;
};

struct AugmentConfig {
  int64_t pad = 4;                  // random crop from the image padded by `pad`; 0: no crop
  std::string pad_mode = "reflect";  // "reflect" | "zeros"
  bool flip = true;                 // random horizontal flip
};

struct NormalizeConfig {
  std::vector<double> mean;  // per channel on the 0..255 scale; empty: fitted on the train set
  std::vector<double> std;   // per channel on the 0..255 scale; empty: fitted on the train set
  bool zca = false;
  double zca_epsilon = 1e-2;
};

struct DataConfig {
  std::string kind = "cifar10";      // see wrn::data::dataset_kinds()
  std::string dir;                   // empty: wrn::data::default_data_dir(kind)
  std::string train_split = "train";
  std::string test_split = "test";
  int64_t batch_size = 128;
  int64_t test_batch_size = 0;       // 0: 2 x batch_size
  int64_t limit_train = 0;           // > 0: only the first N training images (tests, smoke runs)
  int64_t limit_test = 0;            // > 0: only the first N test images
  AugmentConfig augment;
  NormalizeConfig normalize;
};

struct OptimizerConfig {
  double lr = 0.1;
  double momentum = 0.9;
  double dampening = 0.0;
  double weight_decay = 5e-4;
  bool nesterov = true;
  bool reset_momentum_on_drop = false;  // the WRN Torch code restarts momentum at each LR drop
  SgdOptions sgd() const { return {lr, momentum, dampening, weight_decay, nesterov}; }
};

struct CheckpointConfig {
  int64_t every_steps = 0;      // > 0: also checkpoint every N steps inside an epoch
  double every_seconds = 300;   // > 0: also checkpoint when this long has passed since the last
  bool keep_best = true;        // checkpoints/best.ckpt at the lowest test error
};

struct TrainConfig {
  std::string preset;        // the preset's name (informational)
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
  bool channels_last = false;  // model and batches in channels-last memory format
  CheckpointConfig checkpoint;

  // Cross-field checks (ranges, kinds); every field's own check is done while reading.
  // Throws wrn::ConfigError naming the field.
  void validate() const;
};

// Strict conversion from a YAML mapping (all keys optional: absent keys keep the defaults).
TrainConfig config_from_yaml(const YAML::Node& root);
// The full tree, every field present, as YAML.
YAML::Node config_to_yaml(const TrainConfig& config);
std::string config_to_string(const TrainConfig& config);

// Reads a YAML file (wrn::FileError when missing or not valid YAML, naming the file and line).
YAML::Node load_yaml_file(const std::string& path);

// Applies "a.b.c=value" to a YAML tree: the value is parsed as YAML ("0.1", "true",
// "[1, 2, 3]", "{dropout: 0.3}"), intermediate maps are created. Unknown keys are caught
// later by config_from_yaml. Throws wrn::ConfigError for text without '=' or an empty key.
void apply_override(YAML::Node& root, const std::string& key_equals_value);

}  // namespace wrn::train
