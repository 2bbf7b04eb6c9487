// wrn::train::import_weights, the library side of `wrn import`: the model completed from the
// file's metadata and shapes, the normalization chosen in the documented order, bad metadata
// and bad values rejected with one line naming the file or option.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "wrn/core/error.h"
#include "wrn/io/safetensors.h"
#include "wrn/io/state_dict.h"
#include "wrn/models/registry.h"
#include "wrn/io/checkpoint.h"
#include "wrn/setup/checkpoint_model.h"
#include "wrn/config/config.h"
#include "wrn/setup/export_metadata.h"
#include "wrn/setup/import_weights.h"

namespace fs = std::filesystem;
using wrn::train::import_weights;
using wrn::train::ImportOptions;

namespace {

std::string write_weights(const std::string& model, const std::map<std::string, std::string>& metadata,
                          int64_t classes = 10) {
  wrn::models::ModelSpec spec;
  spec.name = model;
  spec.classes = classes;
  auto net = wrn::models::build_model(spec);
  const auto path = (fs::temp_directory_path() / ("wrn_import_" + std::to_string(::getpid()) + "_" + model +
                                                  ".safetensors"))
                        .string();
  wrn::io::save_safetensors(path, wrn::io::state_dict(*net), metadata);
  return path;
}

template <class E>
std::string error_of(const ImportOptions& o) {
  try {
    import_weights(o);
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

}  // namespace

TEST(ImportWeights, ModelAndSettingsComeFromTheFileMetadata) {
  ImportOptions o;
  o.from = write_weights("wrn-16-1", {{"wrn.model", "wrn-16-1"}, {"wrn.settings", R"({"dropout": 0.3})"},
                                      {"wrn.mean", "[125, 123, 114]"}, {"wrn.std", "[63, 62, 66]"}});
  const auto r = import_weights(o);
  EXPECT_EQ(r.spec.name, "wrn-16-1");
  ASSERT_EQ(r.spec.settings.size(), 1u);
  EXPECT_EQ(r.spec.settings[0].first, "dropout");
  EXPECT_EQ(r.spec.settings[0].second, "0.3");
  EXPECT_EQ(r.format, "safetensors");
  EXPECT_FALSE(r.new_classifier);
  const auto config = wrn::train::config_from_yaml(YAML::Load(r.checkpoint.config_yaml));
  EXPECT_EQ(config.data.normalize.mean, (std::vector<double>{125, 123, 114}));
  fs::remove(o.from);
}

TEST(ImportWeights, SettingsMetadataThatIsNotAnObjectIsAFileError) {
  for (const char* bad : {"[1,2]", "3", R"({"dropout": [0.3]})", "not json"}) {
    ImportOptions o;
    o.from = write_weights("resnet20", {{"wrn.model", "resnet20"}, {"wrn.settings", bad}});
    const auto msg = error_of<wrn::FileError>(o);
    EXPECT_NE(msg.find("wrn.settings"), std::string::npos) << bad << ": " << msg;
    EXPECT_EQ(msg.rfind(o.from, 0), 0u) << msg;
    fs::remove(o.from);
  }
}

TEST(ImportWeights, NormalizationOrderAndChecks) {
  ImportOptions o;
  o.from = write_weights("resnet18", {}, 1000);
  o.model.name = "resnet18";
  // ImageNet-sized, 3 channels: torchvision's normalization.
  auto r = import_weights(o);
  auto config = wrn::train::config_from_yaml(YAML::Load(r.checkpoint.config_yaml));
  EXPECT_EQ(config.data.normalize.mean, wrn::train::imagenet_mean());
  EXPECT_EQ(config.data.normalize.std, wrn::train::imagenet_std());
  // Given values win; bad ones are one-line ConfigErrors naming the option.
  o.mean = {1, 2, 3};
  o.std = {4, 5, 6};
  r = import_weights(o);
  config = wrn::train::config_from_yaml(YAML::Load(r.checkpoint.config_yaml));
  EXPECT_EQ(config.data.normalize.std, (std::vector<double>{4, 5, 6}));
  o.std = {0, 1, 1};
  EXPECT_NE(error_of<wrn::ConfigError>(o).find("--std"), std::string::npos);
  o.std = {1, 1};
  EXPECT_NE(error_of<wrn::ConfigError>(o).find("expected 3 values"), std::string::npos);
  o.std.clear();
  EXPECT_NE(error_of<wrn::ConfigError>(o).find("give both or neither"), std::string::npos);
  fs::remove(o.from);
  // A CIFAR-sized model without any source of normalization must be told.
  ImportOptions small;
  small.from = write_weights("resnet20", {});
  small.model.name = "resnet20";
  EXPECT_NE(error_of<wrn::ConfigError>(small).find("--mean/--std"), std::string::npos);
  fs::remove(small.from);
}

TEST(ImportWeights, AnotherClassCountFineTunes) {
  ImportOptions o;
  o.from = write_weights("resnet20", {{"wrn.model", "resnet20"}, {"wrn.mean", "[1,2,3]"}, {"wrn.std", "[1,1,1]"}});
  o.model.classes = 5;
  o.class_names = {"a", "b", "c", "d", "e"};
  const auto r = import_weights(o);
  EXPECT_TRUE(r.new_classifier);
  EXPECT_EQ(r.spec.classes, 5);
  EXPECT_EQ(wrn::io::find_tensor(r.checkpoint.model, "fc.weight", "ck").size(0), 5);
  o.class_names = {"a"};
  EXPECT_NE(error_of<wrn::ConfigError>(o).find("1 names for a model with 5 classes"), std::string::npos);
  fs::remove(o.from);
}

namespace {

// Far from the defaults in every field: 3x40x48, random_resized_crop, resize 56 + center crop.
wrn::data::Preprocessing sample_preprocessing() {
  wrn::data::Preprocessing p;
  p.height = 40;
  p.width = 48;
  p.train = wrn::data::TrainTransform::RandomResizedCrop;
  p.augment.pad = 0;
  p.scale_min = 0.25;
  p.ratio_max = 2.0;
  p.eval = wrn::data::EvalTransform::ResizeCenterCrop;
  p.eval_resize = 56;
  p.mean = {125.3, 122.95, 113.87};
  p.std = {63.0, 62.1, 66.7};
  p.validate();
  return p;
}

wrn::models::ModelSpec tiny_spec() {
  wrn::models::ModelSpec spec;
  spec.name = "wrn-10-1";
  spec.classes = 3;
  spec.input = {3, 40, 48};
  spec.settings = {{"dropout", "0.3"}};
  return wrn::models::resolve_spec(spec);
}

nlohmann::json checkpoint_meta(const wrn::train::ImportResult& r) { return nlohmann::json::parse(r.checkpoint.meta_json); }

}  // namespace

TEST(ExportMetadata, OneMapWithEveryKey) {
  const auto p = sample_preprocessing();
  const auto meta = wrn::train::export_metadata(tiny_spec(), p, {"cat", "dog", "a \"b\""});
  EXPECT_EQ(meta.at("wrn.model"), "wrn-10-1");
  EXPECT_EQ(meta.at("wrn.classes"), "3");
  EXPECT_EQ(meta.at("wrn.input"), "3x40x48");
  EXPECT_EQ(nlohmann::json::parse(meta.at("wrn.settings")), nlohmann::json({{"dropout", "0.3"}}));
  EXPECT_EQ(wrn::data::Preprocessing::from_json(meta.at("wrn.preprocessing"), "x"), p);
  EXPECT_EQ(wrn::train::metadata_class_names(meta, "x"), (std::vector<std::string>{"cat", "dog", "a \"b\""}));
  EXPECT_EQ(nlohmann::json::parse(meta.at("wrn.mean")).get<std::vector<double>>(), p.mean);
  EXPECT_EQ(meta.at("wrn.zca"), "false");
  // No class names, no normalization: no keys for them.
  auto plain = p;
  plain.mean.clear();
  plain.std.clear();
  const auto less = wrn::train::export_metadata(tiny_spec(), plain, {});
  EXPECT_EQ(less.count("wrn.class_names"), 0u);
  EXPECT_EQ(less.count("wrn.mean"), 0u);
  EXPECT_TRUE(wrn::train::metadata_class_names(less, "x").empty());
  EXPECT_EQ(*wrn::train::metadata_preprocessing(less, "x"), plain);
  EXPECT_FALSE(wrn::train::metadata_preprocessing({}, "x").has_value());
}

// An export's spec and class names survive import: the checkpoint meta holds them as the
// trainer writes them ("preprocessing": to_json(), "class_names": [...]).
TEST(ImportWeights, KeepsTheExportsPreprocessingAndClassNames) {
  const auto p = sample_preprocessing();
  const std::vector<std::string> names = {"cat", "dog", "bird"};
  ImportOptions o;
  o.from = write_weights("wrn-10-1", wrn::train::export_metadata(tiny_spec(), p, names), 3);
  auto r = import_weights(o);
  EXPECT_EQ(r.spec.input.str(), "3x40x48");
  auto meta = checkpoint_meta(r);
  ASSERT_TRUE(meta.contains("preprocessing") && meta["preprocessing"].is_string()) << meta.dump();
  EXPECT_EQ(wrn::data::Preprocessing::from_json(meta["preprocessing"].get<std::string>(), "ck"), p);
  EXPECT_EQ(meta.at("class_names").get<std::vector<std::string>>(), names);
  auto config = wrn::train::config_from_yaml(YAML::Load(r.checkpoint.config_yaml));
  EXPECT_EQ(config.data.normalize.mean, p.mean);
  EXPECT_EQ(config.model.input, "3x40x48");
  EXPECT_EQ(config.data.image_size, "40x48");
  EXPECT_EQ(config.data.channels, 3);
  EXPECT_EQ(config.data.train_transform, wrn::data::TrainTransform::RandomResizedCrop);
  EXPECT_EQ(config.data.eval_transform, wrn::data::EvalTransform::ResizeCenterCrop);
  EXPECT_EQ(config.data.eval_resize, 56);
  EXPECT_EQ(config.data.crop_scale, (std::vector<double>{p.scale_min, p.scale_max}));
  EXPECT_EQ(config.data.augment.pad, 0);
  // The checkpoint it writes loads back with the same spec (CheckpointModel.preprocessing).
  const auto ck_path = (fs::temp_directory_path() / ("wrn_import_" + std::to_string(::getpid()) + ".ckpt")).string();
  wrn::io::save_checkpoint(ck_path, r.checkpoint);
  const auto loaded = wrn::train::load_checkpoint_model(ck_path);
  EXPECT_EQ(loaded.preprocessing, p);
  EXPECT_EQ(loaded.class_names, names);
  EXPECT_EQ(wrn::train::export_metadata(loaded).at("wrn.preprocessing"), p.to_json());
  fs::remove(ck_path);

  // --labels and --mean/--std win, and the stored spec takes the normalization the checkpoint has.
  o.class_names = {"x", "y", "z"};
  o.mean = {1, 2, 3};
  o.std = {4, 5, 6};
  meta = checkpoint_meta(import_weights(o));
  EXPECT_EQ(meta.at("class_names").get<std::vector<std::string>>(), o.class_names);
  auto expected = p;
  expected.mean = o.mean;
  expected.std = o.std;
  EXPECT_EQ(wrn::data::Preprocessing::from_json(meta["preprocessing"].get<std::string>(), "ck"), expected);

  // A new classifier (fine-tuning) has no names from the file.
  o = ImportOptions{};
  o.from = write_weights("wrn-10-1", wrn::train::export_metadata(tiny_spec(), p, names), 3);
  o.model.classes = 5;
  r = import_weights(o);
  EXPECT_TRUE(r.new_classifier);
  EXPECT_FALSE(checkpoint_meta(r).contains("class_names"));
  fs::remove(o.from);
}

// wrn.preprocessing alone (no wrn.input, no wrn.mean) still gives the input and the normalization.
TEST(ImportWeights, PreprocessingAloneGivesTheInputAndNormalization) {
  const auto p = sample_preprocessing();
  ImportOptions o;
  o.from = write_weights("wrn-10-1", {{"wrn.model", "wrn-10-1"}, {"wrn.preprocessing", p.to_json()}});
  const auto r = import_weights(o);
  EXPECT_EQ(r.spec.input.str(), "3x40x48");
  const auto config = wrn::train::config_from_yaml(YAML::Load(r.checkpoint.config_yaml));
  EXPECT_EQ(config.data.normalize.mean, p.mean);
  EXPECT_EQ(config.data.normalize.std, p.std);
  EXPECT_FALSE(checkpoint_meta(r).contains("class_names"));
  fs::remove(o.from);
}

TEST(ImportWeights, BadPreprocessingOrClassNamesIsAOneLineFileError) {
  auto grey = sample_preprocessing();
  grey.channels = 1;
  grey.mean = {120};
  grey.std = {60};
  struct Bad {
    std::string key, value, expect;
  };
  for (const auto& b : std::vector<Bad>{
           {"wrn.preprocessing", "not json\nat all", "wrn.preprocessing"},
           {"wrn.preprocessing", R"({"channels": 3})", "wrn.preprocessing"},
           {"wrn.preprocessing", [] {
              auto j = nlohmann::json::parse(sample_preprocessing().to_json());
              j["eval_resize"] = 10;  // smaller than the crop
              return j.dump();
            }(), "wrn.preprocessing"},
           {"wrn.preprocessing", grey.to_json(), "1-channel images but the model takes 3"},
           {"wrn.class_names", "[1, 2]", "wrn.class_names"},
           {"wrn.class_names", "{\"a\": 1}\n", "wrn.class_names"},
           {"wrn.class_names", R"(["a", "b"])", "2 names for a classifier with 10 classes"},
       }) {
    ImportOptions o;
    o.from = write_weights("wrn-10-1", {{"wrn.model", "wrn-10-1"}, {"wrn.mean", "[1,2,3]"}, {"wrn.std", "[1,1,1]"},
                                        {b.key, b.value}});
    const auto msg = error_of<wrn::FileError>(o);
    EXPECT_EQ(msg.rfind(o.from, 0), 0u) << msg;
    EXPECT_NE(msg.find(b.expect), std::string::npos) << b.value << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    fs::remove(o.from);
  }
}
