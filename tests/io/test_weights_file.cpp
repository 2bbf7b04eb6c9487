// One weights I/O layer: every format is told apart by its first bytes (not its name), read
// into the one state-dict type, and loaded with the one fine-tuning rule.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/data/dataset.h"
#include "wrn/io/checkpoint.h"
#include "wrn/io/pt_format.h"
#include "wrn/io/safetensors.h"
#include "wrn/io/weights_file.h"
#include "wrn/models/registry.h"

using namespace wrn::io;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("wrn_io_test_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

wrn::models::Classifier build(const std::string& name, int64_t classes = 10) {
  torch::manual_seed(7);
  wrn::models::ModelSpec spec;
  spec.name = name;
  spec.classes = classes;
  return wrn::models::build_model(spec);
}

void expect_same(const StateDict& a, const StateDict& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_TRUE(torch::equal(a[i].value, b[i].value)) << a[i].name;
  }
}

}  // namespace

TEST(WeightsFile, EveryFormatIsDetectedByContentNotName) {
  TempDir dir;
  auto model = build("resnet20");
  const auto sd = state_dict(*model);
  // Misleading extensions on purpose.
  save_pt(dir.file("weights.safetensors"), sd);
  save_safetensors(dir.file("weights.ckpt"), sd, {{"wrn.model", "resnet20"}});
  Checkpoint ck;
  ck.config_yaml = "epochs: 1\n";
  ck.model = sd;
  ck.normalizer = {torch::tensor({1.0}), torch::tensor({2.0})};
  save_checkpoint(dir.file("weights.pt"), ck);

  EXPECT_EQ(detect_weights_format(dir.file("weights.safetensors")), WeightsFormat::Pt);
  EXPECT_EQ(detect_weights_format(dir.file("weights.ckpt")), WeightsFormat::Safetensors);
  EXPECT_EQ(detect_weights_format(dir.file("weights.pt")), WeightsFormat::Checkpoint);

  const auto pt = read_weights_file(dir.file("weights.safetensors"));
  expect_same(pt.tensors, sd);
  const auto st = read_weights_file(dir.file("weights.ckpt"));
  expect_same(st.tensors, sd);
  EXPECT_EQ(st.metadata.at("wrn.model"), "resnet20");
  const auto from_ck = read_weights_file(dir.file("weights.pt"));
  expect_same(from_ck.tensors, sd);
  EXPECT_EQ(from_ck.normalizer.size(), 2u);
  EXPECT_EQ(from_ck.config_yaml, "epochs: 1\n");
  EXPECT_STREQ(format_name(from_ck.format), "checkpoint");
}

TEST(WeightsFile, OtherFilesAreOneLineErrorsNamingTheFile) {
  TempDir dir;
  wrn::write_file_atomically(dir.file("notes.pt"), "hello, not weights");
  for (const auto& path : {dir.file("notes.pt"), dir.file("missing.pt")}) {
    try {
      read_weights_file(path);
      ADD_FAILURE() << "no FileError for " << path;
    } catch (const wrn::FileError& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind(path, 0), 0u) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
}

TEST(LoadWeights, TheOneFineTuneRuleReplacesOnlyAClassifierOfAnotherShape) {
  auto source = build("resnet20", 10);
  const auto sd = state_dict(*source);
  // Same classes: everything loads, even when fine-tuning is allowed.
  auto same = build("resnet20", 10);
  EXPECT_FALSE(load_weights(*same, sd, "w", FineTune::WhenClassesDiffer));
  expect_same(state_dict(*same), sd);
  // Other classes: strict loading names the classifier; fine-tuning keeps the model's own.
  auto other = build("resnet20", 7);
  const auto own_fc = find_tensor(state_dict(*other), "fc.weight", "model").clone();
  EXPECT_THROW(load_weights(*other, sd, "w"), wrn::FileError);
  EXPECT_TRUE(load_weights(*other, sd, "w", FineTune::WhenClassesDiffer));
  const auto loaded = state_dict(*other);
  EXPECT_TRUE(torch::equal(find_tensor(loaded, "fc.weight", "model"), own_fc));
  EXPECT_TRUE(torch::equal(find_tensor(loaded, "conv1.weight", "model"), find_tensor(sd, "conv1.weight", "file")));
  // Anything else that does not fit is still an error.
  StateDict broken = sd;
  broken.erase(broken.begin());
  EXPECT_THROW(load_weights(*other, broken, "w", FineTune::WhenClassesDiffer), wrn::FileError);
}

TEST(LoadWeights, FindTensorNamesWhatLacksIt) {
  const StateDict sd = {{"a", torch::zeros({1})}};
  try {
    find_tensor(sd, "b", "checkpoint x.ckpt");
    ADD_FAILURE();
  } catch (const wrn::FileError& e) {
    EXPECT_STREQ(e.what(), "checkpoint x.ckpt: missing tensor 'b'");
  }
}

TEST(DatasetKinds, OneTableForShapesAndClassNames) {
  for (const auto& k : wrn::data::dataset_kind_table()) {
    if (k.name == "folder") {
      EXPECT_EQ(k.channels, 0);
      EXPECT_TRUE(k.class_names.empty());
      continue;
    }
    EXPECT_TRUE(k.channels == 1 || k.channels == 3) << k.name;
    EXPECT_GT(k.height, 0) << k.name;
    EXPECT_FALSE(k.class_names.empty()) << k.name;
  }
  EXPECT_EQ(wrn::data::dataset_kind("fashion-mnist").height, 28);
  EXPECT_EQ(wrn::data::dataset_kind("cifar100").class_names.size(), 100u);
  EXPECT_EQ(wrn::data::dataset_kind("cifar100-coarse").class_names.size(), 20u);
  EXPECT_EQ(wrn::data::dataset_kinds().size(), wrn::data::dataset_kind_table().size());
  try {
    wrn::data::dataset_kind("cifar-10");
    ADD_FAILURE();
  } catch (const wrn::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'cifar10'"), std::string::npos) << e.what();
  }
}

// --init-from / --from a FIFO blocked in open() until a writer came (issue 25).
TEST(WeightsFile, AFifoIsRefusedBeforeOpening) {
  TempDir dir;
  const auto fifo = (dir.path / "weights.pt").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  try {
    detect_weights_format(fifo);
    ADD_FAILURE() << "no FileError for a FIFO";
  } catch (const wrn::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}
