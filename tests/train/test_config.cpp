// TrainConfig: strict YAML reading, overrides, round trip, and every shipped preset.
#include <gtest/gtest.h>

#include <cstdlib>

#include "wrn/core/error.h"
#include "wrn/train/config.h"

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
                           "wrn-cifar10-zca", "wrn-svhn", "resnet-cifar", "preact-cifar", "resnet-imagenet",
                           "wrn-fashion-mnist"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = config_from_yaml(load_yaml_file(find_preset(name)));
    EXPECT_EQ(c.preset, name);
    if (name != "demo") EXPECT_TRUE(c.paper.present());
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
  EXPECT_EQ(resnet.schedule.unit, "iteration");
  EXPECT_EQ(resnet.schedule.warmup.iterations, 400);
  // A path works too, and an unknown name lists the presets with a suggestion.
  EXPECT_EQ(find_preset(WRN_SOURCE_DIR "/presets/demo.yaml"), WRN_SOURCE_DIR "/presets/demo.yaml");
  auto msg = error_of([] { find_preset("wrn-cifar1O"); });
  EXPECT_NE(msg.find("did you mean"), std::string::npos) << msg;
}
