// End-to-end tests of training on image folders (data.kind folder) through the built `wrn`
// (WRN_TOOL_PATH), on small folders each test generates: 3 classes told apart by a stripe
// pattern and a tint, plus noise, 20-48 px images of varying size, written as grey PNG, RGB
// PNG, RGBA PNG and RGB JPEG in turn. Tiny models, 1-3 epochs, 2 threads.
//  - storage memory == stream (1 worker) == stream (4 workers), bitwise; random_resized_crop
//    streamed with 1 and 4 workers, bitwise;
//  - a streamed random_resized_crop run SIGKILLed mid-epoch and resumed is bitwise the run left alone;
//  - `wrn predict` gives the class `wrn eval --predictions` gives, file by file, for a model
//    trained at a size the files do not have (resize_center_crop);
//  - the resolved spec in config.yaml and the checkpoint, as load_checkpoint_model reads it;
//  - layouts: train/ + test/ only, a val.txt list file, data.val_fraction choosing best.ckpt;
//  - bad input: a corrupt JPEG (fail / skip), an empty class folder, model.input against
//    data.image_size;
//  - channels: grey and colour mixed resolve to 3 in train and val alike; data.channels=1.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "../data/data_test_util.h"
#include "e2e_util.h"
#include "wrn/core/atomic_file.h"
#include "wrn/io/checkpoint.h"
#include "wrn/setup/checkpoint_model.h"
#include "wrn/report/metrics_log.h"

namespace fs = std::filesystem;
using namespace wrn::train;
using namespace wrn::io;
using wrn::test::comparable;
using wrn::test::expect_bitwise_equal;
using wrn::test::run;
using wrn::test::slurp;
using wrn::test::spawn;
using wrn::test::wait_exit;
using wrn::data::testing::write_jpeg;
using wrn::data::testing::write_png;

namespace {

const std::vector<std::string> kClasses = {"hstripes", "vstripes", "checker"};

enum class Format { GreyPng, RgbPng, RgbaPng, RgbJpeg };

// One image of class `cls`: its pattern (horizontal stripes, vertical stripes, checker) and
// tint, with noise, h x w, as uint8 [C, H, W] for the format.
torch::Tensor make_image(int cls, int64_t h, int64_t w, Format format, std::mt19937& rng) {
  std::uniform_int_distribution<int> noise(-30, 30);
  const int period = 4 + int(rng() % 3);
  const int tint[3][3] = {{60, 0, 0}, {0, 60, 0}, {0, 0, 60}};
  auto img = torch::empty({4, h, w}, torch::kUInt8);
  auto a = img.accessor<uint8_t, 3>();
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const bool on = cls == 0 ? (y / (period / 2)) % 2 == 0
                      : cls == 1 ? (x / (period / 2)) % 2 == 0
                                 : ((x / period) + (y / period)) % 2 == 0;
      const int base = on ? 190 : 60;
      for (int c = 0; c < 3; ++c) a[c][y][x] = uint8_t(std::clamp(base + tint[cls][c] + noise(rng), 0, 255));
      a[3][y][x] = uint8_t(128 + rng() % 128);
    }
  switch (format) {
    case Format::GreyPng:
      return (img.slice(0, 0, 3).to(torch::kFloat).mean(0, true)).round().to(torch::kUInt8);
    case Format::RgbPng:
    case Format::RgbJpeg:
      return img.slice(0, 0, 3).contiguous();
    case Format::RgbaPng:
      return img;
  }
  return img;
}

std::string ext(Format f) { return f == Format::RgbJpeg ? ".jpg" : ".png"; }

// <root>/<split>/<class>/img_NNN.{png,jpg}: `per_class` images per class, formats cycling
// through `formats`, sizes 20..48 px (not square).
void make_split(const std::string& root, const std::string& split, int per_class, uint32_t seed,
                const std::vector<Format>& formats = {Format::GreyPng, Format::RgbPng, Format::RgbaPng, Format::RgbJpeg}) {
  std::mt19937 rng(seed);
  for (int cls = 0; cls < int(kClasses.size()); ++cls) {
    const auto dir = fs::path(root) / split / kClasses[size_t(cls)];
    fs::create_directories(dir);
    for (int i = 0; i < per_class; ++i) {
      const int64_t h = 20 + int64_t(rng() % 29), w = 20 + int64_t(rng() % 29);
      const Format f = formats[size_t(i) % formats.size()];
      char name[32];
      std::snprintf(name, sizeof name, "img_%03d", i);
      const auto path = (dir / (name + ext(f))).string();
      auto chw = make_image(cls, h, w, f, rng);
      if (f == Format::RgbJpeg)
        write_jpeg(path, chw, 90);
      else
        write_png(path, chw);
    }
  }
}

std::string scratch(const std::string& name) { return wrn::test::scratch("wrn_imgfolder_", name); }

// A tiny fp32 run on the folder `data` into `out`, with extra --set overrides.
std::vector<std::string> train_args(const std::string& data, const std::string& out, int epochs,
                                    const std::vector<std::string>& sets) {
  std::vector<std::string> a = {"train", "--model", "wrn-10-1", "--set", "data.kind=folder", "--data", data,
                                "--precision", "fp32", "--batch-size", "16", "--epochs", std::to_string(epochs),
                                "--seed", "5", "--threads", "2", "--set", "checkpoint.every_seconds=0",
                                "--set", "channels_last=false", "--set", "optimizer.lr=0.05", "--quiet", "--out", out};
  for (const auto& s : sets) a.insert(a.end(), {"--set", s});
  return a;
}

// Two finished runs ended in the same state: last.ckpt's weights and optimizer, the metrics.
void expect_same_run(const std::string& a, const std::string& b) {
  auto ca = load_checkpoint(a + "/checkpoints/last.ckpt");
  auto cb = load_checkpoint(b + "/checkpoints/last.ckpt");
  expect_bitwise_equal(ca.model, cb.model, a + " vs " + b + " model");
  expect_bitwise_equal(ca.optimizer, cb.optimizer, a + " vs " + b + " optimizer");
  EXPECT_EQ(comparable(read_metrics(a + "/metrics.jsonl")), comparable(read_metrics(b + "/metrics.jsonl")))
      << a << " vs " << b;
}

nlohmann::json meta_of(const std::string& ckpt) { return nlohmann::json::parse(load_checkpoint(ckpt).meta_json); }

// The lines of `text` holding `needle`.
std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.find(needle) != std::string::npos) out.push_back(line);
  return out;
}

class ImageFolderE2E : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(fs::temp_directory_path() / ("wrn_imgfolder_" + std::to_string(::getpid())));
  }
};

}  // namespace

TEST_F(ImageFolderE2E, MemoryAndStreamedStorageTrainBitwiseTheSame) {
  const auto data = scratch("data");
  make_split(data, "train", 12, 1);
  make_split(data, "val", 4, 2);
  const std::vector<std::string> common = {"data.image_size=20", "data.test_split=val"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), common.begin(), common.end());
    return extra;
  };
  const auto mem = scratch("mem"), s1 = scratch("s1"), s4 = scratch("s4");
  ASSERT_EQ(run(train_args(data, mem, 2, with({"data.storage=memory"})), mem + ".log"), 0) << slurp(mem + ".log");
  ASSERT_EQ(run(train_args(data, s1, 2, with({"data.storage=stream", "data.workers=1"})), s1 + ".log"), 0)
      << slurp(s1 + ".log");
  ASSERT_EQ(run(train_args(data, s4, 2, with({"data.storage=stream", "data.workers=4"})), s4 + ".log"), 0)
      << slurp(s4 + ".log");
  expect_same_run(mem, s1);
  expect_same_run(mem, s4);
  ASSERT_EQ(read_metrics(mem + "/metrics.jsonl").size(), 2u);

  const auto r1 = scratch("rrc1"), r4 = scratch("rrc4");
  const std::vector<std::string> rrc = {"data.train_transform=random_resized_crop", "data.crop_scale=[0.3,1]"};
  auto rrc_with = [&](const std::string& workers) {
    auto s = with(rrc);
    s.push_back("data.workers=" + workers);
    return s;
  };
  ASSERT_EQ(run(train_args(data, r1, 2, rrc_with("1")), r1 + ".log"), 0) << slurp(r1 + ".log");
  ASSERT_EQ(run(train_args(data, r4, 2, rrc_with("4")), r4 + ".log"), 0) << slurp(r4 + ".log");
  expect_same_run(r1, r4);
  // random_resized_crop trains on other pixels than pad_crop: the runs differ.
  auto pad = load_checkpoint(mem + "/checkpoints/last.ckpt"), crop = load_checkpoint(r1 + "/checkpoints/last.ckpt");
  bool any_differs = false;
  for (size_t i = 0; i < pad.model.size(); ++i)
    any_differs = any_differs || !torch::equal(pad.model[i].value, crop.model[i].value);
  EXPECT_TRUE(any_differs);
}

TEST_F(ImageFolderE2E, StreamedRandomResizedCropKilledMidEpochAndResumedIsBitwiseIdentical) {
  const auto data = scratch("data");
  make_split(data, "train", 32, 3);  // 96 images: 6 steps per epoch
  make_split(data, "val", 4, 4);
  auto args = [&](const std::string& out) {
    return train_args(data, out, 2,
                      {"data.image_size=20", "data.test_split=val", "data.train_transform=random_resized_crop",
                       "data.workers=2", "checkpoint.every_steps=1", "model.settings.dropout=0.2"});
  };
  const auto ref = scratch("ref"), killed = scratch("killed");
  ASSERT_EQ(run(args(ref), ref + ".log"), 0) << slurp(ref + ".log");
  EXPECT_EQ(meta_of(ref + "/checkpoints/last.ckpt").at("epochs_done"), 2);

  pid_t pid = spawn(args(killed), killed + ".log");
  const auto last = killed + "/checkpoints/last.ckpt";
  bool mid_epoch = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while (!mid_epoch && std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) FAIL() << "the run ended before it could be killed";
    try {
      auto meta = meta_of(last);
      mid_epoch = meta.at("epochs_done") == 1 && meta.at("step_in_epoch").get<int>() >= 2;
    } catch (const std::exception&) {
      // not written yet
    }
    if (!mid_epoch) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(mid_epoch) << "no mid-epoch checkpoint appeared";
  kill(pid, SIGKILL);
  EXPECT_EQ(wait_exit(pid), 128 + SIGKILL);
  auto at_kill = meta_of(last);
  ASSERT_EQ(at_kill.at("epochs_done").get<int>(), 1) << "the kill must land inside epoch 2";
  const int step = at_kill.at("step_in_epoch").get<int>();
  EXPECT_TRUE(step > 0 && step < 6) << "the kill must land inside the epoch, step " << step;

  ASSERT_EQ(run({"resume", killed, "--quiet"}, killed + ".resume.log"), 0) << slurp(killed + ".resume.log");
  auto a = load_checkpoint(ref + "/checkpoints/last.ckpt");
  auto b = load_checkpoint(last);
  expect_bitwise_equal(a.model, b.model, "model");
  expect_bitwise_equal(a.optimizer, b.optimizer, "optimizer");
  expect_bitwise_equal(a.rng, b.rng, "generators");
  auto ma = read_metrics(ref + "/metrics.jsonl"), mb = read_metrics(killed + "/metrics.jsonl");
  ASSERT_EQ(ma.size(), 2u);
  EXPECT_EQ(comparable(ma), comparable(mb));
}

// The top-1 class per file of a `wrn eval --predictions` CSV (index,label,predicted,file).
std::map<std::string, int> eval_classes(const std::string& csv_path) {
  std::map<std::string, int> out;
  std::istringstream in(slurp(csv_path));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "index,label,predicted,file");
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) f.push_back(cell);
    if (f.size() != 4u) {
      ADD_FAILURE() << "bad CSV line: " << line;
      continue;
    }
    out[fs::weakly_canonical(f[3]).string()] = std::stoi(f[2]);
  }
  return out;
}

TEST_F(ImageFolderE2E, PredictGivesTheClassesEvalGivesForAModelTrainedAtAnotherSize) {
  const auto data = scratch("data");
  make_split(data, "train", 20, 5);
  make_split(data, "val", 10, 6);
  const auto out = scratch("run");
  ASSERT_EQ(run(train_args(data, out, 3,
                           {"data.image_size=24", "data.test_split=val", "data.eval_transform=resize_center_crop"}),
                out + ".log"),
            0)
      << slurp(out + ".log");
  const auto ck = out + "/checkpoints/last.ckpt";
  // Both with and without test-time flip averaging (eval --tta and predict --tta).
  std::map<std::string, double> top_probability[2];  // per file, without and with --tta
  for (const bool tta : {false, true}) {
    SCOPED_TRACE(tta ? "--tta" : "no tta");
    const std::string tag = tta ? "_tta" : "";
    const auto csv = out + "/pred" + tag + ".csv";
    std::vector<std::string> eval_args = {
        "eval",        "--checkpoint", ck,         "--predictions", csv, "--optimized",
        "--precision", "fp32",         "--no-png", "--threads",     "2"};
    if (tta) eval_args.push_back("--tta");
    ASSERT_EQ(run(eval_args, csv + ".log"), 0) << slurp(csv + ".log");
    const auto by_eval = eval_classes(csv);
    ASSERT_EQ(by_eval.size(), 30u);

    const auto pred_log = out + "/predict" + tag + ".jsonl";
    std::vector<std::string> predict_args = {"predict", "--checkpoint", ck,     "--json",    "--top",
                                             "1",       "--precision",  "fp32", "--threads", "2"};
    if (tta) predict_args.push_back("--tta");
    predict_args.push_back(data + "/val");
    ASSERT_EQ(run(predict_args, pred_log), 0) << slurp(pred_log);
    std::map<std::string, int> by_predict;
    std::istringstream in(slurp(pred_log));
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] != '{') continue;
      auto j = nlohmann::json::parse(line);
      const auto file = fs::weakly_canonical(j.at("file").get<std::string>()).string();
      by_predict[file] = j.at("top").at(0).at("index").get<int>();
      top_probability[tta][file] = j.at("top").at(0).at("probability").get<double>();
    }
    ASSERT_EQ(by_predict.size(), by_eval.size()) << slurp(pred_log);
    int correct = 0;
    for (const auto& [file, cls] : by_eval) {
      ASSERT_TRUE(by_predict.count(file)) << file << " missing from predict's output";
      EXPECT_EQ(by_predict[file], cls) << file;
      const std::vector<std::string> sorted = {"checker", "hstripes", "vstripes"};  // class indices
      correct += file.find("/" + sorted[size_t(cls)] + "/") != std::string::npos;
    }
    // The patterns are easy: the model learned something (chance is 10 of 30).
    EXPECT_GE(correct, 15) << "of 30";
  }
  // --tta reached the model: the flip changes the probabilities (of the shifted patterns at least).
  int changed = 0;
  for (const auto& [file, p] : top_probability[0]) changed += std::abs(p - top_probability[1][file]) > 1e-6;
  EXPECT_GT(changed, 0) << "predict --tta gave every file the probability it gives without it";
}

TEST_F(ImageFolderE2E, TheResolvedSpecIsInConfigYamlAndTheCheckpoint) {
  const auto data = scratch("data");
  make_split(data, "train", 8, 7);
  make_split(data, "val", 4, 8);
  for (bool sized : {true, false}) {
    const auto out = scratch(sized ? "sized" : "auto");
    std::vector<std::string> sets = {"data.test_split=val", "data.eval_transform=resize_center_crop"};
    if (sized) sets.push_back("data.image_size=24x20");
    ASSERT_EQ(run(train_args(data, out, 1, sets), out + ".log"), 0) << slurp(out + ".log");
    auto yaml = YAML::LoadFile(out + "/config.yaml");
    const auto size = yaml["data"]["image_size"].as<std::string>();
    const auto channels = yaml["data"]["channels"].as<int>();
    const auto ck = out + "/checkpoints/last.ckpt";
    auto meta = meta_of(ck);
    ASSERT_TRUE(meta.contains("preprocessing") && meta["preprocessing"].is_string()) << meta.dump();
    const auto loaded = load_checkpoint_model(ck);
    EXPECT_EQ(meta["preprocessing"].get<std::string>(), loaded.preprocessing.to_json());
    const auto& p = loaded.preprocessing;
    if (sized) {
      EXPECT_EQ(size, "24x20");
      EXPECT_EQ(p.height, 24);
      EXPECT_EQ(p.width, 20);
    } else {
      // The first training image's size (hstripes/img_000.png).
      auto first = wrn::data::testing::read_all(data + "/train/hstripes/img_000.png");
      const auto h = int64_t(uint8_t(first[20])) << 24 | int64_t(uint8_t(first[21])) << 16 |
                     int64_t(uint8_t(first[22])) << 8 | int64_t(uint8_t(first[23]));
      const auto w = int64_t(uint8_t(first[16])) << 24 | int64_t(uint8_t(first[17])) << 16 |
                     int64_t(uint8_t(first[18])) << 8 | int64_t(uint8_t(first[19]));
      EXPECT_EQ(p.height, h);
      EXPECT_EQ(p.width, w);
      EXPECT_EQ(size, h == w ? std::to_string(h) : std::to_string(h) + "x" + std::to_string(w));
    }
    EXPECT_EQ(channels, 3) << "grey, RGB and RGBA mixed";
    EXPECT_EQ(p.channels, 3);
    EXPECT_EQ(loaded.spec.input.channels, 3);
    EXPECT_EQ(loaded.spec.input.height, p.height);
    EXPECT_EQ(loaded.spec.input.width, p.width);
    EXPECT_EQ(p.eval, wrn::data::EvalTransform::ResizeCenterCrop);
    EXPECT_GE(p.eval_resize, std::min(p.height, p.width));
    EXPECT_EQ(yaml["data"]["eval_resize"].as<int64_t>(), p.eval_resize);
    EXPECT_EQ(p.mean.size(), 3u);
    EXPECT_EQ(loaded.class_names, (std::vector<std::string>{"checker", "hstripes", "vstripes"}));  // sorted
  }
}

TEST_F(ImageFolderE2E, LayoutsTrainAndTestOnlyAListFileAndAValidationFraction) {
  // train/ + test/ only: test_split=test finds it; test_split=val falls back to test/.
  const auto data = scratch("data");
  make_split(data, "train", 8, 9);
  make_split(data, "test", 4, 10);
  for (std::string split : {"test", "val"}) {
    const auto out = scratch("tt-" + split);
    auto args = train_args(data, out, 1, {"data.test_split=" + split});
    args.erase(std::find(args.begin(), args.end(), "--quiet"));
    ASSERT_EQ(run(args, out + ".log"), 0) << slurp(out + ".log");
    auto ms = read_metrics(out + "/metrics.jsonl");
    ASSERT_EQ(ms.size(), 1u);
    EXPECT_TRUE(std::isfinite(ms[0].test_top1_err));
    if (split == "val") {
      const auto log = slurp(out + ".log");
      EXPECT_NE(log.find("using 'test'"), std::string::npos) << "the fallback is said:\n" << log;
    }
  }

  // A val.txt list file: path<TAB>label, names and indices, relative to the file.
  {
    const auto list_data = scratch("listdata");
    make_split(list_data, "train", 8, 11);
    make_split(list_data, "images", 4, 12);
    std::string text;
    for (const auto& e : fs::recursive_directory_iterator(list_data + "/images")) {
      if (!e.is_regular_file()) continue;
      const auto cls = e.path().parent_path().filename().string();
      text += fs::relative(e.path(), list_data).string() + "\t" + cls + "\n";
    }
    wrn::data::testing::write_bytes(list_data + "/val.txt", text);
    const auto out = scratch("list");
    ASSERT_EQ(run(train_args(list_data, out, 1, {"data.test_split=val"}), out + ".log"), 0) << slurp(out + ".log");
    const auto csv = out + "/pred.csv";
    ASSERT_EQ(run({"eval", "--checkpoint", out + "/checkpoints/last.ckpt", "--predictions", csv, "--no-png",
                   "--precision", "fp32", "--threads", "2"},
                  csv + ".log"),
              0)
        << slurp(csv + ".log");
    // Every listed file, with its label.
    std::istringstream in(slurp(csv));
    std::string line;
    std::getline(in, line);
    int rows = 0;
    while (std::getline(in, line)) {
      ++rows;
      const auto label = line.substr(line.find(',') + 1, 1);
      const auto want = line.find("/checker/") != std::string::npos    ? "0"
                        : line.find("/hstripes/") != std::string::npos ? "1"
                                                                       : "2";
      EXPECT_EQ(label, want) << line;
    }
    EXPECT_EQ(rows, 12);
  }

  // data.val_fraction: a validation split held out of train/ chooses best.ckpt.
  {
    const auto out = scratch("valfrac");
    ASSERT_EQ(run(train_args(data, out, 3, {"data.val_fraction=0.25", "data.test_split=test"}), out + ".log"), 0)
        << slurp(out + ".log");
    auto ms = read_metrics(out + "/metrics.jsonl");
    ASSERT_EQ(ms.size(), 3u);
    int best = 0;
    for (const auto& m : ms) {
      ASSERT_TRUE(std::isfinite(m.val_top1_err)) << "epoch " << m.epoch;
      if (best == 0 || m.val_top1_err < ms[size_t(best - 1)].val_top1_err) best = m.epoch;
    }
    for (const auto& line : lines_with(slurp(out + "/metrics.jsonl"), "{"))
      EXPECT_NE(line.find("\"val_top1_err\""), std::string::npos) << line;
    const auto report = slurp(out + "/report.md");
    EXPECT_NE(report.find("chosen on the validation split"), std::string::npos) << report;
    EXPECT_EQ(meta_of(out + "/checkpoints/best.ckpt").at("epochs_done").get<int>(), best);
    // The best numbers are the TEST error of the epoch chosen on validation, labelled as such,
    // with its validation error beside it: in the checkpoint, on the CLI's last line, in info.
    const auto& b = ms[size_t(best - 1)];
    const auto meta = meta_of(out + "/checkpoints/last.ckpt");
    EXPECT_NEAR(meta.at("best_test_error").get<double>(), b.test_top1_err, 1e-9);
    EXPECT_NEAR(meta.at("best_val_error").get<double>(), b.val_top1_err, 1e-9);
    EXPECT_NEAR(meta.at("best_choice_error").get<double>(), b.val_top1_err, 1e-9);
    const auto log = slurp(out + ".log");
    const auto line = fmt::format("best epoch {} (chosen on the validation split, validation error {:.2f}%): test error {:.2f}%",
                                  best, b.val_top1_err, b.test_top1_err);
    EXPECT_NE(log.find(line), std::string::npos) << line << "\n" << log;
    ASSERT_EQ(run({"info", out + "/checkpoints/best.ckpt", "--json"}, out + ".info.log"), 0) << slurp(out + ".info.log");
    const auto info_lines = lines_with(slurp(out + ".info.log"), "{");
    ASSERT_FALSE(info_lines.empty());
    const auto info = nlohmann::json::parse(info_lines.back());
    EXPECT_EQ(info.at("best_chosen_on"), "validation");
    EXPECT_EQ(info.at("best_epoch").get<int>(), best);
    EXPECT_NEAR(info.at("best_test_accuracy").get<double>(), 100 - b.test_top1_err, 1e-9);
    EXPECT_NEAR(info.at("best_val_accuracy").get<double>(), 100 - b.val_top1_err, 1e-9);
  }
}

TEST_F(ImageFolderE2E, BadInputIsAOneLineErrorOrSkipped) {
  const auto data = scratch("data");
  make_split(data, "train", 8, 13);
  make_split(data, "val", 4, 14);
  const auto bad = data + "/train/vstripes/broken.jpg", bad_val = data + "/val/vstripes/broken.jpg";
  wrn::data::testing::write_bytes(bad, std::string("\xff\xd8\xff\xe0 this is not a JPEG at all", 30));
  wrn::data::testing::write_bytes(bad_val, std::string("\xff\xd8\xff\xe0 this is not a JPEG at all", 30));

  for (std::string storage : {"memory", "stream"}) {
    SCOPED_TRACE(storage);
    const auto out = scratch("fail-" + storage);
    const int rc = run(train_args(data, out, 1, {"data.test_split=val", "data.storage=" + storage}), out + ".log");
    const auto log = slurp(out + ".log");
    EXPECT_NE(rc, 0) << log;
    auto errors = lines_with(log, "error");
    ASSERT_EQ(errors.size(), 1u) << log;
    EXPECT_NE(errors[0].find("broken.jpg"), std::string::npos) << log;
    EXPECT_FALSE(fs::exists(out + "/checkpoints/last.ckpt"));
    EXPECT_FALSE(fs::exists(out + "/checkpoints/best.ckpt"));

    const auto skip = scratch("skip-" + storage);
    ASSERT_EQ(run(train_args(data, skip, 1,
                             {"data.test_split=val", "data.storage=" + storage, "data.on_bad_image=skip"}),
                  skip + ".log"),
              0)
        << slurp(skip + ".log");
    const auto report = slurp(skip + "/report.md");
    EXPECT_NE(report.find(bad), std::string::npos) << report;
    // The evaluated split's unreadable image is listed too (it used to vanish from "N images").
    EXPECT_NE(report.find("validation/test images could not be read and were left out of the evaluation"),
              std::string::npos)
        << report;
    EXPECT_NE(report.find(bad_val), std::string::npos) << report;
  }
  fs::remove(bad);
  fs::remove(bad_val);

  // A class folder with no images.
  {
    fs::create_directories(data + "/train/empty");
    const auto out = scratch("empty");
    const int rc = run(train_args(data, out, 1, {"data.test_split=val"}), out + ".log");
    const auto log = slurp(out + ".log");
    EXPECT_NE(rc, 0) << log;
    auto errors = lines_with(log, "error");
    ASSERT_EQ(errors.size(), 1u) << log;
    EXPECT_NE(errors[0].find(data + "/train/empty"), std::string::npos) << log;
    EXPECT_TRUE(!fs::exists(out) || fs::is_empty(out)) << "nothing written in " << out;
    fs::remove(data + "/train/empty");
  }

  // model.input against data.image_size.
  {
    const auto out = scratch("input");
    const int rc =
        run(train_args(data, out, 1, {"data.test_split=val", "data.image_size=28", "model.input=3x32x32"}), out + ".log");
    const auto log = slurp(out + ".log");
    EXPECT_NE(rc, 0) << log;
    auto errors = lines_with(log, "error");
    ASSERT_EQ(errors.size(), 1u) << log;
    EXPECT_NE(errors[0].find("model.input"), std::string::npos) << log;
    EXPECT_TRUE(!fs::exists(out) || fs::is_empty(out)) << "nothing written in " << out;
  }
}

TEST_F(ImageFolderE2E, GreyAndColourMixedResolveToThreeChannelsAndChannelsOneConvertsToGrey) {
  // Train: grey PNG and RGB JPEG in turn (each class's first image grey); val: grey only.
  const auto data = scratch("data");
  make_split(data, "train", 10, 15, {Format::GreyPng, Format::RgbJpeg});
  make_split(data, "val", 4, 16, {Format::GreyPng});
  for (std::string storage : {"memory", "stream"}) {
    const auto out = scratch("mixed-" + storage);
    ASSERT_EQ(run(train_args(data, out, 1, {"data.test_split=val", "data.image_size=24", "data.storage=" + storage}),
                  out + ".log"),
              0)
        << slurp(out + ".log");
    EXPECT_EQ(YAML::LoadFile(out + "/config.yaml")["data"]["channels"].as<int>(), 3) << storage;
    auto loaded = load_checkpoint_model(out + "/checkpoints/last.ckpt");
    EXPECT_EQ(loaded.preprocessing.channels, 3) << storage;
    EXPECT_EQ(loaded.spec.input.channels, 3) << storage;
  }
  // data.channels=1: colour converted to grey, the model takes one channel.
  {
    const auto out = scratch("grey");
    ASSERT_EQ(run(train_args(data, out, 1, {"data.test_split=val", "data.image_size=24", "data.channels=1"}), out + ".log"),
              0)
        << slurp(out + ".log");
    EXPECT_EQ(YAML::LoadFile(out + "/config.yaml")["data"]["channels"].as<int>(), 1);
    auto loaded = load_checkpoint_model(out + "/checkpoints/last.ckpt");
    EXPECT_EQ(loaded.preprocessing.channels, 1);
    EXPECT_EQ(loaded.spec.input.channels, 1);
    EXPECT_EQ(loaded.preprocessing.mean.size(), 1u);
    // predict reads the colour files the same way.
    const auto log = out + "/predict.jsonl";
    ASSERT_EQ(run({"predict", "--checkpoint", out + "/checkpoints/last.ckpt", "--json", "--top", "1", "--threads", "2",
                   data + "/train/checker"},
                  log),
              0)
        << slurp(log);
    EXPECT_EQ(lines_with(slurp(log), "\"file\"").size(), 10u) << slurp(log);
  }
  // Val colour, train grey only: channels 1 from the train split, val converted to grey.
  {
    const auto grey_data = scratch("greydata");
    make_split(grey_data, "train", 6, 17, {Format::GreyPng});
    make_split(grey_data, "val", 4, 18, {Format::RgbJpeg, Format::RgbaPng});
    const auto out = scratch("greytrain");
    ASSERT_EQ(run(train_args(grey_data, out, 1, {"data.test_split=val", "data.image_size=24"}), out + ".log"), 0)
        << slurp(out + ".log");
    EXPECT_EQ(YAML::LoadFile(out + "/config.yaml")["data"]["channels"].as<int>(), 1);
  }
}
