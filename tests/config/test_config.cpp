// TrainConfig: strict YAML reading, overrides, round trip, and every shipped preset.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <unistd.h>

#include "wrn/core/error.h"
#include "wrn/config/config.h"

using namespace wrn::train;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const wrn::Error& e) {
    return e.what();
  }
  return "";
}

std::string emit(const YAML::Node& n) {
  YAML::Emitter out;
  out << YAML::Flow << n;
  return out.c_str();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST(Config, DefaultsWhenEmpty) {
  auto c = config_from_yaml(YAML::Load("{}"));
  EXPECT_EQ(c.model.name, "wrn-16-4");
  EXPECT_EQ(c.data.batch_size, 128);
  EXPECT_EQ(c.epochs, 200);
}

TEST(Config, UnknownKeyNamesItsPathWithDidYouMean) {
  auto msg = error_of([] { config_from_yaml(YAML::Load("data: {augmnt: {pad: 4}}")); });
  EXPECT_NE(msg.find("'data.augmnt'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'augment'"), std::string::npos) << msg;
  msg = error_of([] { config_from_yaml(YAML::Load("optimizer: {weight_decy: 0.1}")); });
  EXPECT_NE(msg.find("did you mean 'weight_decay'"), std::string::npos) << msg;
  msg = error_of([] { config_from_yaml(YAML::Load("epoch: 3")); });
  EXPECT_NE(msg.find("did you mean 'epochs'"), std::string::npos) << msg;
}

TEST(Config, WrongTypesAndRangesNameTheKey) {
  auto msg = error_of([] { config_from_yaml(YAML::Load("data: {batch_size: many}")); });
  EXPECT_NE(msg.find("data.batch_size"), std::string::npos) << msg;
  msg = error_of([] { config_from_yaml(YAML::Load("data: {batch_size: 0}")); });
  EXPECT_NE(msg.find("data.batch_size"), std::string::npos) << msg;
  msg = error_of([] { config_from_yaml(YAML::Load("data: [1, 2]")); });
  EXPECT_NE(msg.find("'data' must be a mapping"), std::string::npos) << msg;
  msg = error_of([] { config_from_yaml(YAML::Load("schedule: {type: cosinus}")); });
  EXPECT_NE(msg.find("did you mean 'cosine'"), std::string::npos) << msg;
  msg = error_of([] { config_from_yaml(YAML::Load("device: gpu")); });
  EXPECT_NE(msg.find("device"), std::string::npos) << msg;
  msg = error_of([] { config_from_yaml(YAML::Load("data: {normalize: {mean: [1, 2], std: [1]}}")); });
  EXPECT_NE(msg.find("same length"), std::string::npos) << msg;
}

TEST(Config, OverridesSetNestedValuesOfAnyType) {
  YAML::Node root = YAML::Load("optimizer: {lr: 0.1}");
  apply_override(root, "optimizer.lr=0.05");
  apply_override(root, "schedule.milestones=[10, 20]");
  apply_override(root, "model.settings.dropout=0.3");
  apply_override(root, "data.augment.flip=false");
  auto c = config_from_yaml(root);
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 0.05);
  EXPECT_EQ(c.schedule.milestones, (std::vector<double>{10, 20}));
  ASSERT_EQ(c.model.settings.size(), 1u);
  EXPECT_EQ(c.model.settings[0], (std::pair<std::string, std::string>{"dropout", "0.3"}));
  EXPECT_FALSE(c.data.augment.flip);
  EXPECT_THROW(apply_override(root, "novalue"), wrn::ConfigError);
  apply_override(root, "optimizer.lrr=1");
  EXPECT_NE(error_of([&] { config_from_yaml(root); }).find("did you mean 'lr'"), std::string::npos);
}

TEST(Config, RoundTripThroughYamlIsExact) {
  auto c = config_from_yaml(YAML::Load(
      "model: {name: wrn-28-10, settings: {dropout: 0.3, block: [3, 3]}}\n"
      "data: {kind: cifar100, normalize: {mean: [125.3, 123.0, 113.9], std: [63.0, 62.1, 66.7]}}\n"
      "optimizer: {lr: 0.1, weight_decay: 0.0005}\n"
      "schedule: {milestones: [60, 120, 160], gamma: 0.2, warmup: {iterations: 400, lr: 0.01}}\n"
      "paper: {error: 4.00, source: WRN paper}\nseed: 42\n"));
  auto text = config_to_string(c);
  auto d = config_from_yaml(YAML::Load(text));
  EXPECT_EQ(config_to_string(d), text);
  EXPECT_EQ(d.model.settings, c.model.settings);
  EXPECT_EQ(d.data.normalize.mean, c.data.normalize.mean);
  EXPECT_EQ(d.schedule.warmup.iterations, 400);
  EXPECT_DOUBLE_EQ(d.paper.error, 4.0);
  EXPECT_EQ(d.seed, 42u);
  EXPECT_NE(text.find("0.0005"), std::string::npos) << "doubles are written in shortest form:\n" << text;
}

TEST(Presets, EveryShippedPresetLoadsAndValidates) {
  setenv("WRN_PRESET_DIR", WRN_SOURCE_DIR "/presets", 1);
  auto names = preset_names();
  for (const char* want : {"demo", "wrn-cifar10", "wrn-cifar10-dropout", "wrn-cifar100", "wrn-cifar100-dropout",
                           "wrn-cifar10-zca", "wrn-svhn", "resnet-cifar", "preact-cifar", "resnet-imagenet", "wrn-imagenet",
                           "wrn-fashion-mnist"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = config_from_yaml(load_yaml_file(find_preset(name)));
    EXPECT_EQ(c.preset, name);
    if (name != "demo") {
      EXPECT_TRUE(c.paper.present());
    }
  }
  auto wrn = config_from_yaml(load_yaml_file(find_preset("wrn-cifar10")));
  EXPECT_EQ(wrn.model.name, "wrn-28-10");
  EXPECT_TRUE(wrn.optimizer.nesterov);
  EXPECT_DOUBLE_EQ(wrn.paper.error, 4.00);
  auto svhn = config_from_yaml(load_yaml_file(find_preset("wrn-svhn")));
  EXPECT_EQ(svhn.model.name, "wrn-16-8");
  EXPECT_EQ(svhn.data.train_split, "train+extra");
  EXPECT_EQ(svhn.epochs, 160);
  auto resnet = config_from_yaml(load_yaml_file(find_preset("resnet-cifar")));
  EXPECT_EQ(resnet.schedule.unit, ScheduleUnit::Iteration);
  EXPECT_EQ(resnet.schedule.warmup.iterations, 400);
  // A path works too, and an unknown name lists the presets with a suggestion.
  EXPECT_EQ(find_preset(WRN_SOURCE_DIR "/presets/demo.yaml"), WRN_SOURCE_DIR "/presets/demo.yaml");
  auto msg = error_of([] { find_preset("wrn-cifar1O"); });
  EXPECT_NE(msg.find("did you mean"), std::string::npos) << msg;
}

// ---- The field table ----

TEST(ConfigTable, KeysAreUniqueAndEveryFieldHasDocAndANonDefaultExample) {
  std::set<std::string> keys;
  const TrainConfig defaults;
  for (const auto& f : config_fields()) {
    SCOPED_TRACE(f.key);
    EXPECT_TRUE(keys.insert(f.key).second) << "duplicate key";
    EXPECT_FALSE(f.doc.empty());
    EXPECT_EQ(f.doc.find('\n'), std::string::npos);
    ASSERT_FALSE(f.example.empty());
    TrainConfig c;
    f.read(c, YAML::Load(f.example));
    EXPECT_NE(emit(f.write(c)), emit(f.write(defaults))) << "the example must differ from the default";
    if (f.type == FieldType::Enum) {
      EXPECT_FALSE(f.allowed.empty());
    }
  }
  // The sections are exactly the parents of the keys.
  std::set<std::string> parents;
  for (const auto& k : keys)
    if (k.find('.') != std::string::npos) parents.insert(k.substr(0, k.rfind('.')));
  std::set<std::string> sections;
  for (const auto& s : config_sections()) sections.insert(s.path);
  EXPECT_EQ(parents, sections);
}

// Each field alone at a non-default value survives write -> read (the table is enumerated,
// so a new field is covered without touching this test).
TEST(ConfigTable, RoundTripOfEveryFieldAlone) {
  for (const auto& f : config_fields()) {
    SCOPED_TRACE(f.key);
    TrainConfig c;
    f.read(c, YAML::Load(f.example));
    const auto text = config_to_string(c);
    // Alone, some values break cross-field rules (dampening with nesterov): read unvalidated.
    auto d = config_from_yaml(YAML::Load(text), false);
    EXPECT_EQ(emit(f.write(d)), emit(f.write(c))) << text;
    EXPECT_EQ(config_to_string(d), text);
  }
}

// All fields at once at their (mutually consistent) examples: written, read back validated,
// every field equal; and the text is that of the fields in table order.
TEST(ConfigTable, RoundTripOfAllFieldsAtOnce) {
  TrainConfig c;
  for (const auto& f : config_fields()) f.read(c, YAML::Load(f.example));
  ASSERT_NO_THROW(c.validate());
  const auto text = config_to_string(c);
  const auto d = config_from_yaml(YAML::Load(text));
  const TrainConfig defaults;
  for (const auto& f : config_fields()) {
    SCOPED_TRACE(f.key);
    EXPECT_EQ(emit(f.write(d)), emit(f.write(c)));
    EXPECT_NE(emit(f.write(d)), emit(f.write(defaults)));
  }
  EXPECT_EQ(config_to_string(d), text);
  // Typed members got the values (not only their text).
  EXPECT_EQ(d.schedule.type, ScheduleType::Cosine);
  EXPECT_EQ(d.schedule.unit, ScheduleUnit::Iteration);
  EXPECT_EQ(d.schedule.warmup.mode, WarmupMode::Linear);
  EXPECT_EQ(d.data.augment.pad_mode, wrn::data::PadMode::Zeros);
  EXPECT_FALSE(d.optimizer.nesterov);
  EXPECT_DOUBLE_EQ(d.optimizer.dampening, 0.1);
  EXPECT_EQ(d.seed, 42u);
  EXPECT_EQ(d.threads, 2);
  EXPECT_EQ(d.model.settings, (std::vector<std::pair<std::string, std::string>>{{"dropout", "0.3"}}));
}

// A config.yaml as written before the table (same shape, same order): loads, and is
// written back byte for byte.
TEST(ConfigTable, ConfigYamlOfEarlierVersionsLoadsUnchanged) {
  const std::string old_text =
      "preset: wrn-cifar10\n"
      "description: WRN-28-10, CIFAR-10\n"
      "paper:\n  error: 4\n  source: WRN paper Table 4\n"
      "model:\n  name: wrn-28-10\n  classes: 0\n  input: \"\"\n  settings:\n    dropout: 0.3\n"
      "data:\n  kind: cifar10\n  dir: \"\"\n  train_split: train\n  test_split: test\n  batch_size: 128\n"
      "  test_batch_size: 0\n  limit_train: 0\n  limit_test: 0\n"
      "  augment:\n    pad: 4\n    pad_mode: reflect\n    flip: true\n"
      "  normalize:\n    mean: [125.3, 123, 113.9]\n    std: [63, 62.1, 66.7]\n    zca: false\n"
      "    zca_epsilon: 0.01\n"
      "optimizer:\n  lr: 0.1\n  momentum: 0.9\n  dampening: 0\n  weight_decay: 0.0005\n  nesterov: true\n"
      "  reset_momentum_on_drop: false\n"
      "schedule:\n  type: multistep\n  unit: epoch\n  milestones: [60, 120, 160]\n  gamma: 0.2\n  min_lr: 0\n"
      "  warmup:\n    iterations: 0\n    lr: 0\n    mode: constant\n"
      "epochs: 200\nseed: 1\ndevice: auto\nthreads: 0\neval_every: 1\nchannels_last: false\n"
      "checkpoint:\n  every_steps: 0\n  every_seconds: 300\n  keep_best: true\n";
  auto c = config_from_yaml(YAML::Load(old_text));
  // Written back, it gains only the fields added since, at their defaults (precision: issue 8;
  // resume() runs a checkpoint without it in fp32, as it was trained).
  auto with_new_fields = old_text;
  with_new_fields.insert(with_new_fields.find("checkpoint:\n"), "precision: auto\n");
  // ... and the image options of issue 9 (data.image_size etc., unresolved: from the data).
  with_new_fields.insert(with_new_fields.find("  augment:\n"),
                         "  val_fraction: 0\n  image_size: \"\"\n  channels: 0\n  train_transform: pad_crop\n"
                         "  crop_scale: [0.08, 1]\n  crop_ratio: [0.75, 1.3333333333333333]\n  eval_transform: resize\n"
                         "  eval_resize: 0\n  storage: auto\n  workers: 0\n  on_bad_image: fail\n");
  // ... and issue 12's recipe options, all off.
  with_new_fields.insert(with_new_fields.find("  normalize:\n"),
                         "    policy:\n      kind: none\n      ops: 2\n      magnitude: 9\n      bins: 31\n"
                         "    cutout:\n      size: 0\n      holes: 1\n"
                         "    erasing:\n      p: 0\n      scale: [0.02, 0.33]\n      ratio: [0.3, 3.3]\n"
                         "      random_fill: false\n");
  with_new_fields.insert(with_new_fields.find("optimizer:\n") + 11, "  type: sgd\n");
  with_new_fields.insert(with_new_fields.find("  reset_momentum_on_drop"),
                         "  betas: [0.9, 0.999]\n  eps: 1e-08\n  no_decay_bn_bias: false\n  clip_grad_norm: 0\n");
  with_new_fields.insert(with_new_fields.find("checkpoint:\n"),
                         "loss:\n  label_smoothing: 0\nmix:\n  mixup_alpha: 0\n  cutmix_alpha: 0\n  prob: 1\n"
                         "  switch_prob: 0.5\nema:\n  decay: 0\n  warmup: true\neval_tta: false\nlog_every_steps: 0\n");
  EXPECT_EQ(config_to_string(c), with_new_fields);
  EXPECT_EQ(c.schedule.milestones, (std::vector<double>{60, 120, 160}));
}

TEST(ConfigTable, BadEnumValueIsOneLineWithTheAllowedValuesAndASuggestion) {
  auto msg = error_of([] { config_from_yaml(YAML::Load("data: {augment: {pad_mode: zerso}}")); });
  EXPECT_NE(msg.find("'data.augment.pad_mode'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'zerso'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("reflect, zeros"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'zeros'"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  msg = error_of([] { config_from_yaml(YAML::Load("schedule: {unit: epochs}")); });
  EXPECT_NE(msg.find("'schedule.unit'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'epoch'"), std::string::npos) << msg;
  msg = error_of([] { config_from_yaml(YAML::Load("schedule: {warmup: {mode: linaer}}")); });
  EXPECT_NE(msg.find("'schedule.warmup.mode'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'linear'"), std::string::npos) << msg;
  msg = error_of([] { config_from_yaml(YAML::Load("schedule: {type: [cosine]}")); });
  EXPECT_NE(msg.find("'schedule.type' must be one of multistep, cosine, constant"), std::string::npos) << msg;
  msg = error_of([] { config_from_yaml(YAML::Load("data: {kind: cifar-10}")); });
  EXPECT_NE(msg.find("'data.kind'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'cifar10'"), std::string::npos) << msg;
  // --set goes through the same reader.
  YAML::Node root(YAML::NodeType::Map);
  apply_override(root, "data.augment.pad_mode=zeros");
  EXPECT_EQ(config_from_yaml(root).data.augment.pad_mode, wrn::data::PadMode::Zeros);
  apply_override(root, "schedule.type=cosinus");
  EXPECT_NE(error_of([&] { config_from_yaml(root); }).find("did you mean 'cosine'"), std::string::npos);
}

TEST(ConfigTable, UnknownKeysAtEveryDepthGetADidYouMean) {
  auto msg = error_of([] { config_from_yaml(YAML::Load("schedule: {warmup: {iteratons: 5}}")); });
  EXPECT_NE(msg.find("'schedule.warmup.iteratons'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'iterations'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("known keys here: iterations, lr, mode"), std::string::npos) << msg;
  msg = error_of([] { config_from_yaml(YAML::Load("chekpoint: {every_steps: 5}")); });
  EXPECT_NE(msg.find("did you mean 'checkpoint'"), std::string::npos) << msg;
  msg = error_of([] { config_from_yaml(YAML::Load("data: {normalize: 3}")); });
  EXPECT_NE(msg.find("'data.normalize' must be a mapping"), std::string::npos) << msg;
  msg = error_of([] { config_from_yaml(YAML::Load("seed: -1")); });
  EXPECT_NE(msg.find("'seed' must be >= 0"), std::string::npos) << msg;
}

TEST(ConfigTable, RangesFromTheTableNameTheKey) {
  auto msg = error_of([] { config_from_yaml(YAML::Load("optimizer: {momentum: 1}")); });
  EXPECT_NE(msg.find("'optimizer.momentum' must be in [0, 1), got 1"), std::string::npos) << msg;
  msg = error_of([] { config_from_yaml(YAML::Load("data: {normalize: {mean: [1], std: [0]}}")); });
  EXPECT_NE(msg.find("'data.normalize.std' values must be > 0, got 0"), std::string::npos) << msg;
  msg = error_of([] { config_from_yaml(YAML::Load("eval_every: 0")); });
  EXPECT_NE(msg.find("'eval_every' must be >= 1, got 0"), std::string::npos) << msg;
  // validate() checks a config built in code the same way.
  TrainConfig c;
  c.checkpoint.every_seconds = -1;
  msg = error_of([&] { c.validate(); });
  EXPECT_NE(msg.find("'checkpoint.every_seconds' must be >= 0"), std::string::npos) << msg;
}

TEST(ConfigTable, AbsurdThreadCountIsRejected) {
  auto msg = error_of([] { config_from_yaml(YAML::Load("threads: 100000")); });
  EXPECT_NE(msg.find("'threads' must be in [0, 1024], got 100000"), std::string::npos) << msg;
  EXPECT_NO_THROW(config_from_yaml(YAML::Load("threads: 1024")));
}

// gamma=inf once ran to 77,562 of 78,042 weights non-finite with exit 0.
TEST(ConfigTable, InfiniteValuesAndMinLrAboveLrAreRejected) {
  for (const auto& [yaml, expected] : std::vector<std::pair<std::string, std::string>>{
           {"schedule: {gamma: inf}", "config: 'schedule.gamma' must be finite, got inf"},
           {"schedule: {milestones: [10, inf]}", "config: 'schedule.milestones' values must be finite, got inf"},
           {"data: {normalize: {zca_epsilon: inf}}", "config: 'data.normalize.zca_epsilon' must be finite, got inf"},
           {"optimizer: {lr: inf}", "config: 'optimizer.lr' must be finite, got inf"},
           {"schedule: {gamma: -inf}", "config: 'schedule.gamma' must be finite, got -inf"},
           {"schedule: {gamma: nan}", "config: 'schedule.gamma' must be > 0, got nan"},
           {"optimizer: {lr: 0.1}\nschedule: {type: cosine, min_lr: 0.5}",
            "config: 'schedule.min_lr' (0.5) must not exceed 'optimizer.lr' (0.1)"}}) {
    const std::string text = yaml;  // C++17 lambdas cannot capture a structured binding (clang refuses)
    const auto msg = error_of([&] { config_from_yaml(YAML::Load(text)); });
    EXPECT_EQ(msg, expected) << yaml;
  }
  EXPECT_NO_THROW(config_from_yaml(YAML::Load("optimizer: {lr: 0.1}\nschedule: {type: cosine, min_lr: 0.1}")));
}

// AdamW does not use SGD's momentum, dampening or Nesterov: a preset's nesterov: true with
// momentum 0 used to refuse an AdamW run ("nesterov needs momentum > 0").
TEST(ConfigTable, AdamWIsNotCheckedAgainstSgdsFields) {
  EXPECT_NO_THROW(config_from_yaml(YAML::Load("optimizer: {type: adamw, lr: 0.001, momentum: 0, nesterov: true}")));
  EXPECT_EQ(error_of([] { config_from_yaml(YAML::Load("optimizer: {type: sgd, momentum: 0, nesterov: true}")); }),
            "optimizer.nesterov needs momentum > 0 and dampening 0 (got momentum 0, dampening 0)");
  EXPECT_EQ(error_of([] { config_from_yaml(YAML::Load("optimizer: {type: adamw, lr: 0}")); }),
            "config: 'optimizer.lr' must be > 0, got 0");
}

// A list, a scalar or binary garbage used to become the default config silently, and a repeated
// key kept its first value.
TEST(ConfigFile, NotAMappingOrARepeatedKeyIsAnErrorNamingTheFile) {
  const auto path = (std::filesystem::temp_directory_path() / ("wrn_test_config_" + std::to_string(::getpid()) +
                                                               ".yaml"))
                        .string();
  auto write = [&](const std::string& text) { std::ofstream(path, std::ios::binary) << text; };
  std::string garbage;
  for (int i = 0; i < 256; ++i) garbage.push_back(static_cast<char>((i * 37 + 11) % 256 == 0 ? 1 : (i * 37 + 11) % 256));
  for (const auto& [text, expected] : std::vector<std::pair<std::string, std::string>>{
           {"- epochs: 3\n- seed: 1\n", "expected a YAML mapping of config keys, got a list"},
           {"just some words\n", "expected a YAML mapping of config keys, got a single value"},
           {"\x7f" "ELF\x02\x01\x01\x03\x04\x05garbage", "expected a YAML mapping of config keys"},
           {garbage, "config file '" + path + "'"},
           {"epochs: 3\nseed: 1\nepochs: 5\n", "line 3: duplicate key 'epochs'"},
           {"optimizer:\n  lr: 0.1\n  momentum: 0.9\n  lr: 0.5\n", "line 4: duplicate key 'optimizer.lr'"}}) {
    write(text);
    const auto msg = error_of([&] { config_from_yaml(load_yaml_file(path)); });
    EXPECT_EQ(msg.rfind("config file '" + path + "'", 0), 0u) << msg;
    EXPECT_NE(msg.find(expected), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  // An empty file and a plain mapping still load.
  write("");
  EXPECT_EQ(config_from_yaml(load_yaml_file(path)).epochs, TrainConfig{}.epochs);
  write("epochs: 3\noptimizer: {lr: 0.2}\n");
  EXPECT_EQ(config_from_yaml(load_yaml_file(path)).epochs, 3);
  std::filesystem::remove(path);
}

TEST(ConfigTable, InformationalFieldsAreWrittenWhenSetAndOnlyThen) {
  const auto text = config_to_string(TrainConfig{});
  EXPECT_EQ(text.find("preset"), std::string::npos) << text;
  EXPECT_EQ(text.find("paper"), std::string::npos) << text;
  EXPECT_EQ(text.find("init_from"), std::string::npos) << text;
  TrainConfig c;
  c.paper.source = "a source without a number";  // was dropped when error was unset
  auto d = config_from_yaml(YAML::Load(config_to_string(c)));
  EXPECT_EQ(d.paper.source, c.paper.source);
  EXPECT_FALSE(d.paper.present());
}

// docs/config.md is the generated text; regenerate with
//   build/wrn train --print-config-doc > docs/config.md
TEST(ConfigTable, DocsMatchTheTable) {
  const auto generated = config_doc_markdown();
  const auto checked_in = read_text(WRN_SOURCE_DIR "/docs/config.md");
  for (const auto& f : config_fields()) EXPECT_NE(generated.find("`" + f.key + "`"), std::string::npos) << f.key;
  if (checked_in != generated) std::ofstream("config.md.generated", std::ios::binary) << generated;
  EXPECT_EQ(checked_in, generated) << "docs/config.md is out of date: regenerate it with "
                                      "'wrn train --print-config-doc > docs/config.md' (the generated text was "
                                      "also written to config.md.generated in the test's working directory)";
}
