// wrn::train::import_weights, the library side of `wrn import`: the model completed from the
// file's metadata and shapes, the normalization chosen in the documented order, bad metadata
// and bad values rejected with one line naming the file or option.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>

#include "wrn/core/error.h"
#include "wrn/io/safetensors.h"
#include "wrn/io/state_dict.h"
#include "wrn/models/registry.h"
#include "wrn/train/config.h"
#include "wrn/train/import_weights.h"

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
