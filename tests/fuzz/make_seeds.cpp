// Writes the seed corpus of every fuzz target (tests/fuzz/corpus/<target>/): small valid files
// in each format, written by wrn's own writers and by the test suites' ones (PNG, JPEG, .mat).
// make_python_seeds.py adds files from independent writers (PIL, torch.save).
//   build/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus presets
#include <matio.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "../data/data_test_util.h"
#include "wrn/data/preprocessing.h"
#include "wrn/io/checkpoint.h"
#include "wrn/io/pt_format.h"
#include "wrn/io/safetensors.h"
#include "wrn/config/config.h"
#include "wrn/report/metrics_log.h"

namespace fs = std::filesystem;
using namespace wrn;
using data::testing::be32;

namespace {

std::string root;

std::string seed_path(const std::string& target, const std::string& name) {
  fs::create_directories(root + "/" + target);
  return root + "/" + target + "/" + name;
}
void seed(const std::string& target, const std::string& name, const std::string& bytes) {
  data::testing::write_bytes(seed_path(target, name), bytes);
}
std::string gzip(const std::string& bytes) {
  const std::string tmp = root + "/.tmp.gz";
  data::testing::write_gzip(tmp, bytes);
  std::string out = data::testing::read_all(tmp);
  fs::remove(tmp);
  return out;
}
std::string le32(uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
torch::Tensor pattern(std::vector<int64_t> shape) {
  return torch::arange(c10::multiply_integers(shape), torch::kInt64).remainder(251).to(torch::kUInt8).reshape(shape);
}

void idx_seeds() {
  const std::string images = data::testing::idx_images(pattern({3, 4, 4}));
  const std::string labels = data::testing::idx_labels(torch::tensor({0, 9, 4}, torch::kUInt8));
  const auto pair = [](const std::string& a, const std::string& b) { return le32(uint32_t(a.size())) + a + b; };
  seed("idx", "plain", pair(images, labels));
  seed("idx", "gzip", pair(gzip(images), gzip(labels)));
  seed("idx", "gzip_images", pair(gzip(images), labels));
}

void cifar_seeds() {
  std::string ten, hundred;
  for (int r = 0; r < 2; ++r) {
    const auto pixels = pattern({3072}).add(r).contiguous();
    const std::string p(reinterpret_cast<const char*>(pixels.data_ptr<uint8_t>()), 3072);
    ten += char(r * 7) + p;
    hundred += std::string{char(r * 3), char(r * 40)} + p;
  }
  seed("cifar", "cifar10_test_batch.bin", ten);
  seed("cifar", "cifar100_test.bin", hundred);
}

template <class Label>
void svhn_seed(const std::string& name, matio_classes cls, matio_types type, bool compress) {
  const std::string path = seed_path("svhn", name);
  std::vector<uint8_t> x(32 * 32 * 3 * 2);
  for (size_t i = 0; i < x.size(); ++i) x[i] = uint8_t(i % 253);
  std::vector<Label> y = {Label(10), Label(3)};
  size_t xdims[4] = {32, 32, 3, 2}, ydims[2] = {2, 1};
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, MAT_FT_MAT5);
  matvar_t* xv = Mat_VarCreate("X", MAT_C_UINT8, MAT_T_UINT8, 4, xdims, x.data(), 0);
  matvar_t* yv = Mat_VarCreate("y", cls, type, 2, ydims, y.data(), 0);
  const auto mode = compress ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE;
  if (mat == nullptr || Mat_VarWrite(mat, xv, mode) != 0 || Mat_VarWrite(mat, yv, mode) != 0) std::abort();
  Mat_VarFree(xv);
  Mat_VarFree(yv);
  Mat_Close(mat);
}

void image_seeds() {
  data::testing::write_png(seed_path("image", "grey.png"), pattern({1, 8, 8}));
  data::testing::write_png(seed_path("image", "rgb.png"), pattern({3, 8, 6}));
  data::testing::write_jpeg(seed_path("image", "rgb.jpg"), pattern({3, 16, 16}), 90);
  data::testing::write_jpeg(seed_path("image", "grey.jpg"), pattern({1, 9, 17}), 90);
  data::testing::JpegWriteOptions progressive;
  progressive.progressive = true;
  data::testing::write_jpeg(seed_path("image", "progressive.jpg"), pattern({3, 16, 24}), progressive);
  data::testing::JpegWriteOptions ycck;
  ycck.ycck = true;
  data::testing::write_jpeg(seed_path("image", "ycck.jpg"), pattern({3, 8, 8}), ycck);
}

void config_seeds(const std::string& presets) {
  seed("config", "default.yaml", train::config_to_string(train::TrainConfig{}));
  for (const char* name : {"demo", "wrn-cifar10", "resnet-cifar10", "wrn-cifar10-cutout"})
    if (fs::exists(presets + "/" + name + ".yaml"))
      seed("config", std::string(name) + ".yaml", data::testing::read_all(presets + "/" + name + ".yaml"));
  seed("config", "sets.yaml",
       "model: {name: wrn-16-4, settings: {dropout: 0.3}}\nschedule: {kind: step, milestones: [60, 120], gamma: 0.2}\n"
       "data: {augment: {policy: {kind: randaugment, ops: 2, magnitude: 9}, erasing: {p: 0.5}}}\n"
       "mix: {mixup_alpha: 0.2, cutmix_alpha: 1.0}\nema: {decay: 0.999}\noptimizer: {type: adamw}\n");
}

void metrics_seeds() {
  std::vector<train::EpochMetrics> epochs(2);
  for (int i = 0; i < 2; ++i) {
    epochs[i].epoch = i + 1;
    epochs[i].lr = 0.1 / (i + 1);
    epochs[i].train_loss = 1.5 - i;
    epochs[i].test_top1_err = 20.0 - i;
    epochs[i].seconds = 3.5;
  }
  train::write_metrics(seed_path("metrics", "metrics.jsonl"), epochs);
  std::vector<train::StepMetrics> steps(3);
  for (int i = 0; i < 3; ++i) steps[i] = {i + 1, 1, 2.0 - 0.1 * i, 0.05, 1900.0};
  train::write_step_metrics(seed_path("metrics", "steps.jsonl"), steps);
}

io::StateDict small_state() {
  io::StateDict s;
  s.push_back({"conv.weight", torch::arange(18, torch::kFloat32).reshape({2, 1, 3, 3}) / 7});
  s.push_back({"bn.running_mean", torch::zeros({2})});
  s.push_back({"bn.num_batches_tracked", torch::tensor(int64_t{3})});
  s.push_back({"fc.weight", torch::ones({2, 2}, torch::kBFloat16)});
  return s;
}

void weights_seeds() {
  seed("pt", "state_dict.pt", io::encode_pt(small_state()));
  std::map<std::string, std::string> meta = {{"wrn.model", "wrn-10-1"},
                                             {"wrn.classes", "2"},
                                             {"wrn.input", "1x28x28"},
                                             {"wrn.settings", "{\"dropout\": \"0.3\"}"},
                                             {"wrn.class_names", "[\"cat\", \"dog\"]"},
                                             {"wrn.preprocessing", data::Preprocessing{}.to_json()}};
  seed("safetensors", "with_metadata.safetensors", io::encode_safetensors(small_state(), meta));
  seed("safetensors", "plain.safetensors", io::encode_safetensors(small_state()));

  io::Checkpoint ck;
  ck.config_yaml = train::config_to_string(train::TrainConfig{});
  ck.meta_json = R"({"epoch": 1, "step_in_epoch": 5, "class_names": ["cat", "dog"]})";
  ck.model = small_state();
  ck.optimizer = {{"momentum", torch::zeros({24})}};
  ck.rng = {{"augment", torch::arange(16, torch::kUInt8)}};
  ck.running = {{"loss_sum", torch::tensor(1.5, torch::kFloat64)}};
  ck.normalizer = {torch::tensor({0.5f}), torch::tensor({0.25f})};
  io::save_checkpoint(seed_path("checkpoint", "plain.ckpt"), ck);
  ck.ema = small_state();
  io::save_checkpoint(seed_path("checkpoint", "with_ema.ckpt"), ck);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR PRESET_DIR\n", argv[0]);
    return 2;
  }
  root = argv[1];
  idx_seeds();
  cifar_seeds();
  svhn_seed<double>("double_labels.mat", MAT_C_DOUBLE, MAT_T_DOUBLE, false);
  svhn_seed<double>("compressed.mat", MAT_C_DOUBLE, MAT_T_DOUBLE, true);
  svhn_seed<uint8_t>("uint8_labels.mat", MAT_C_UINT8, MAT_T_UINT8, false);
  image_seeds();
  config_seeds(argv[2]);
  metrics_seeds();
  weights_seeds();
  return 0;
}
