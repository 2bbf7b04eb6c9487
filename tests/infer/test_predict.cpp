// Predictor on generated PNG/JPEG files: known model outputs, channel conversion, resizing,
// directory walking, labels, malformed images.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "../data/data_test_util.h"
#include "wrn/core/error.h"
#include "wrn/infer/predictor.h"
#include "wrn/models/registry.h"

namespace {

using wrn::data::testing::TempDir;
using wrn::data::testing::truncate_file;
using wrn::data::testing::write_jpeg;
using wrn::data::testing::write_png;
using namespace wrn::infer;

wrn::models::Classifier make_model(const std::string& name, wrn::models::InputShape input) {
  torch::manual_seed(11);
  wrn::models::ModelSpec spec;
  spec.name = name;
  spec.input = input;
  auto model = wrn::models::build_model(spec);
  model->eval();
  return model;
}

torch::Tensor random_image(int64_t c, int64_t h, int64_t w) {
  return torch::randint(0, 256, {c, h, w}, torch::kUInt8);
}

// Reference: plain eval forward on the image scaled to [0, 1].
torch::Tensor reference_probs(const wrn::models::Classifier& model, const torch::Tensor& chw_u8) {
  torch::NoGradGuard no_grad;
  return torch::softmax(model->forward(chw_u8.unsqueeze(0).to(torch::kFloat) / 255.0), 1)[0];
}

PredictorOptions options_for(wrn::models::InputShape input) {
  PredictorOptions o;
  o.preprocess = Preprocess::for_input(input);
  return o;
}

void expect_matches(const Prediction& p, const torch::Tensor& probs, int64_t k) {
  ASSERT_FALSE(p.error) << *p.error;
  ASSERT_EQ(int64_t(p.top.size()), k);
  auto [values, indices] = probs.topk(k);
  for (int64_t r = 0; r < k; ++r) {
    EXPECT_EQ(p.top[r].index, indices[r].item<int64_t>()) << p.file << " rank " << r;
    EXPECT_NEAR(p.top[r].probability, values[r].item<double>(), 1e-5) << p.file;
  }
}

TEST(Predictor, PngAndJpegGiveTheModelsOutputs) {
  TempDir dir;
  const wrn::models::InputShape input{3, 32, 32};
  auto model = make_model("resnet20", input);
  Predictor predictor(model, options_for(input));
  torch::manual_seed(5);
  auto a = random_image(3, 32, 32), b = random_image(3, 32, 32);
  write_png(dir.file("a.png"), a);
  write_png(dir.file("b.png"), b);
  auto preds = predictor.predict_files({dir.file("a.png"), dir.file("b.png")}, 3, /*batch=*/2);
  ASSERT_EQ(preds.size(), 2u);
  expect_matches(preds[0], reference_probs(model, a), 3);
  expect_matches(preds[1], reference_probs(model, b), 3);
  EXPECT_EQ(preds[0].top[0].name, std::to_string(preds[0].top[0].index));

  // JPEG: the decoded pixels (lossy) go through the same path; compare with the decoder's output.
  write_jpeg(dir.file("c.jpg"), a, 95);
  auto decoded = wrn::data::image_to_tensor(wrn::data::read_image(dir.file("c.jpg")), 3);
  expect_matches(predictor.predict_files({dir.file("c.jpg")}, 5)[0], reference_probs(model, decoded), 5);

  // Batch size does not change results; the plain path agrees with the optimized one.
  auto one = predictor.predict_files({dir.file("a.png"), dir.file("b.png")}, 3, 1);
  auto o = options_for(input);
  o.optimized = false;
  auto plain = Predictor(model, o).predict_files({dir.file("a.png"), dir.file("b.png")}, 3, 2);
  for (int i = 0; i < 2; ++i) {
    for (int r = 0; r < 3; ++r) {
      EXPECT_EQ(one[i].top[r].index, preds[i].top[r].index);
      EXPECT_NEAR(one[i].top[r].probability, preds[i].top[r].probability, 1e-6);
      EXPECT_EQ(plain[i].top[r].index, preds[i].top[r].index);
      EXPECT_NEAR(plain[i].top[r].probability, preds[i].top[r].probability, 1e-5);
    }
  }
}

TEST(Predictor, FlipTtaAveragesTheImageAndItsMirrorImage) {
  TempDir dir;
  const wrn::models::InputShape input{3, 32, 32};
  auto model = make_model("resnet20", input);
  auto o = options_for(input);
  o.tta_flip = true;
  torch::manual_seed(6);
  auto a = random_image(3, 32, 32);
  write_png(dir.file("a.png"), a);
  const auto expected = (reference_probs(model, a) + reference_probs(model, a.flip(2))) / 2;
  for (bool optimized : {true, false}) {
    o.optimized = optimized;
    const auto p = Predictor(model, o).predict_files({dir.file("a.png")}, 10)[0];
    expect_matches(p, expected, 10);
    double sum = 0;
    for (const auto& s : p.top) sum += s.probability;
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  // Without it the prediction is the image's own, which differs from the average.
  const auto own = Predictor(model, options_for(input)).predict_files({dir.file("a.png")}, 1)[0];
  EXPECT_NEAR(own.top[0].probability, reference_probs(model, a).max().item<double>(), 1e-5);
  EXPECT_GT(std::abs(own.top[0].probability - expected.max().item<double>()), 1e-6);
}

TEST(Predictor, ConvertsChannelsAndUsesClassNames) {
  TempDir dir;
  // Grey image into a colour model: replicated.
  const wrn::models::InputShape rgb{3, 32, 32};
  auto colour = make_model("resnet20", rgb);
  auto o = options_for(rgb);
  for (int i = 0; i < 10; ++i) o.class_names.push_back("class_" + std::to_string(i));
  Predictor p_colour(colour, o);
  auto grey = random_image(1, 32, 32);
  write_png(dir.file("grey.png"), grey);
  auto pred = p_colour.predict_files({dir.file("grey.png")}, 2)[0];
  expect_matches(pred, reference_probs(colour, grey.expand({3, 32, 32})), 2);
  EXPECT_EQ(pred.top[0].name, "class_" + std::to_string(pred.top[0].index));

  // Colour image into a grey model: ITU-R 601 luma.
  const wrn::models::InputShape g{1, 28, 28};
  auto grey_model = make_model("wrn-10-1", g);
  Predictor p_grey(grey_model, options_for(g));
  auto img = random_image(3, 28, 28);
  write_png(dir.file("rgb.png"), img);
  auto f = img.to(torch::kFloat);
  auto luma = (0.299 * f[0] + 0.587 * f[1] + 0.114 * f[2]).round().clamp(0, 255).to(torch::kUInt8).unsqueeze(0);
  auto expected = wrn::data::image_to_tensor(wrn::data::read_image(dir.file("rgb.png")), 1);
  EXPECT_LE((expected.to(torch::kInt) - luma.to(torch::kInt)).abs().max().item<int>(), 1);
  expect_matches(p_grey.predict_files({dir.file("rgb.png")}, 10)[0], reference_probs(grey_model, expected), 10);

  // Wrong number of names.
  o.class_names.pop_back();
  EXPECT_THROW(Predictor(colour, o), wrn::ConfigError);
}

TEST(Preprocess, ResizesSmallInputsAndCentreCropsImageNetInputs) {
  auto small = Preprocess::for_input({3, 32, 32});
  wrn::data::DecodedImage img{40, 50, 3, std::vector<uint8_t>(40 * 50 * 3, 77)};
  auto r = small.resize(img);
  EXPECT_EQ(r.sizes(), (std::vector<int64_t>{3, 32, 32}));
  EXPECT_EQ(r.min().item<int>(), 77);  // a flat image stays flat
  EXPECT_EQ(r.max().item<int>(), 77);

  // ImageNet: shorter side -> 256, centre 224 crop. A 300 x 600 image whose outer quarters
  // (left and right 150 columns) are black and centre white: after the crop only white is left.
  auto big = Preprocess::for_input({3, 224, 224});
  wrn::data::DecodedImage wide{300, 600, 3, std::vector<uint8_t>(300 * 600 * 3, 0)};
  for (int64_t y = 0; y < 300; ++y)
    for (int64_t x = 150; x < 450; ++x)
      for (int c = 0; c < 3; ++c) wide.pixels[(y * 600 + x) * 3 + c] = 255;
  auto crop = big.resize(wide);
  EXPECT_EQ(crop.sizes(), (std::vector<int64_t>{3, 224, 224}));
  EXPECT_EQ(crop.min().item<int>(), 255);
  // Unfitted normalizer: [0, 1].
  auto n = big.normalize(crop.unsqueeze(0));
  EXPECT_FLOAT_EQ(n.max().item<float>(), 1.0f);
}

TEST(Predictor, MalformedImagesGiveOneLineErrorsNamingTheFile) {
  TempDir dir;
  const wrn::models::InputShape input{3, 32, 32};
  auto model = make_model("resnet20", input);
  Predictor predictor(model, options_for(input));
  write_png(dir.file("good.png"), random_image(3, 32, 32));
  write_png(dir.file("trunc.png"), random_image(3, 32, 32));
  truncate_file(dir.file("trunc.png"), 60);
  { std::ofstream(dir.file("text.png")) << "this is not an image\n"; }
  write_jpeg(dir.file("trunc.jpg"), random_image(3, 32, 32));
  truncate_file(dir.file("trunc.jpg"), 200);
  auto files = collect_image_files({dir.path()});
  ASSERT_EQ(files.size(), 4u);
  EXPECT_TRUE(std::is_sorted(files.begin(), files.end()));
  auto preds = predictor.predict_files(files, 1, 8);
  int errors = 0;
  for (const auto& p : preds) {
    if (p.file.find("good") != std::string::npos) {
      EXPECT_FALSE(p.error);
      EXPECT_EQ(p.top.size(), 1u);
      continue;
    }
    ASSERT_TRUE(p.error) << p.file;
    EXPECT_NE(p.error->find(p.file), std::string::npos) << *p.error;
    EXPECT_EQ(p.error->find('\n'), std::string::npos);
    EXPECT_TRUE(p.top.empty());
    ++errors;
  }
  EXPECT_EQ(errors, 3);
  EXPECT_THROW(collect_image_files({dir.file("missing.png")}), wrn::FileError);
  EXPECT_THROW(predictor.predict_files(files, 0), wrn::ConfigError);
}

TEST(Predictor, ReadsLabelsAndWalksDirectories) {
  TempDir dir;
  { std::ofstream(dir.file("labels.txt")) << "cat\r\ndog\n\n"; }
  EXPECT_EQ(read_labels(dir.file("labels.txt")), (std::vector<std::string>{"cat", "dog"}));
  { std::ofstream(dir.file("empty.txt")) << "\n"; }
  EXPECT_THROW(read_labels(dir.file("empty.txt")), wrn::FileError);
  EXPECT_THROW(read_labels(dir.file("none.txt")), wrn::FileError);
  write_png(dir.file("d/b/2.PNG"), random_image(1, 4, 4));
  write_png(dir.file("d/a.png"), random_image(1, 4, 4));
  { std::ofstream(dir.file("d/notes.txt")) << "x"; }
  auto files = collect_image_files({dir.file("d")});
  ASSERT_EQ(files.size(), 2u);
  EXPECT_NE(files[0].find("a.png"), std::string::npos);
  EXPECT_NE(files[1].find("2.PNG"), std::string::npos);
}

}  // namespace
