// wrn::data transforms against torchvision 0.14 (golden file from scripts/golden_transforms.py:
// PIL decodes and torchvision's tensor-path outputs of small PNG / JPEG images), and the image
// codec's conversions (CMYK / YCCK JPEG, 16-bit and alpha PNG, the pixel limit) on files the
// tests write with libjpeg and libpng.
//
// Tolerances: crop, center crop, flip and the random-resized-crop boxes and flip draws are
// exact; resizes (F.resize(antialias=True) on uint8 tensors, Resize(int), Resize + CenterCrop,
// RandomResizedCrop + flip) are within 1 grey level of torchvision, with fewer than 1% of the
// values off by that 1 (wrn's resize is ATen's kernel written out, same float32 weights and
// order; a multiply-add fused on one side only can round to the other side of .5; measured:
// none differ). The PIL path
// (PIL images through the same transforms, what torchvision's ImageFolder gives) differs from
// the tensor path by at most 1 on these images too (the script prints it: pil_resize_worst).
#include <gtest/gtest.h>
#include <png.h>
#include <torch/torch.h>
#include <cstdio>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "data_test_util.h"
#include "wrn/data/file_bytes.h"
#include "wrn/data/image_codec.h"
#include "wrn/data/transforms.h"

namespace wrn::data {
namespace {

using testing::TempDir;
using testing::expect_file_error;
using testing::JpegWriteOptions;
using testing::read_all;
using testing::write_bytes;
using testing::write_jpeg;
using testing::write_png;

const std::string kGoldenDir = std::string(WRN_SOURCE_DIR) + "/tests/golden/transforms/";

const nlohmann::json& golden() {
  static const nlohmann::json doc = [] {
    std::ifstream in(kGoldenDir + "cases.json");
    EXPECT_TRUE(in.good()) << "missing " << kGoldenDir << "cases.json";
    return nlohmann::json::parse(in);
  }();
  return doc;
}

// uint8 [shape] from the golden file's hex string.
torch::Tensor from_hex(const std::string& hex, std::vector<int64_t> shape) {
  std::vector<uint8_t> bytes(hex.size() / 2);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = uint8_t(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  auto t = torch::from_blob(bytes.data(), {int64_t(bytes.size())}, torch::kUInt8).clone();
  int64_t n = 1;
  for (auto s : shape) n *= s;
  EXPECT_EQ(n, t.numel());
  return t.view(shape);
}

torch::Tensor from_hex_like(const std::string& hex, int64_t channels, int64_t h, int64_t w) {
  return from_hex(hex, {channels, h, w});
}

int64_t max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1 << 20;
  return (a.to(torch::kInt32) - b.to(torch::kInt32)).abs().max().item<int64_t>();
}

at::Generator seeded(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// Every image's decode and torchvision outputs.
TEST(TransformsGolden, DecodeCropCenterCropFlipExactResizesWithinOne) {
  const auto& doc = golden();
  ASSERT_EQ(doc["images"].size(), 4u);
  int64_t worst = 0, resizes = 0, values = 0, differing = 0;
  // The largest difference of a resize output from torchvision's; counts the values that differ.
  auto resized_diff = [&](const torch::Tensor& ours, const torch::Tensor& theirs) {
    const int64_t d = max_diff(ours, theirs);
    if (ours.sizes() == theirs.sizes()) {
      values += ours.numel();
      differing += ours.ne(theirs).sum().item<int64_t>();
    }
    return d;
  };
  for (const auto& im : doc["images"]) {
    SCOPED_TRACE(im["file"].get<std::string>());
    const auto shape = im["shape"].get<std::vector<int64_t>>();
    const int64_t c = shape[0];
    const auto expected = from_hex(im["pixels"], shape);
    const DecodedImage decoded = read_image(kGoldenDir + im["file"].get<std::string>());
    const auto t = image_to_tensor(decoded);
    // PIL and wrn decode with the same libjpeg-turbo defaults (islow DCT, fancy upsampling).
    ASSERT_TRUE(torch::equal(t, expected)) << "decode differs from PIL by " << max_diff(t, expected);

    for (const auto& cc : im["crop"]) {
      const auto b = cc["box"].get<std::vector<int64_t>>();
      const auto out = crop(t, CropBox{b[0], b[1], b[2], b[3]});
      EXPECT_TRUE(torch::equal(out, from_hex_like(cc["out"], c, b[2], b[3])));
      EXPECT_TRUE(out.is_contiguous());
    }
    for (const auto& cc : im["center_crop"]) {
      const auto s = cc["size"].get<std::vector<int64_t>>();
      EXPECT_TRUE(torch::equal(center_crop(t, s[0], s[1]), from_hex_like(cc["out"], c, s[0], s[1])))
          << s[0] << "x" << s[1];
    }
    EXPECT_TRUE(torch::equal(hflip(t), from_hex(im["hflip"], shape)));

    for (const auto& cc : im["resize"]) {
      const auto s = cc["size"].get<std::vector<int64_t>>();
      const int64_t d = resized_diff(resize_image(t, s[0], s[1]), from_hex_like(cc["out"], c, s[0], s[1]));
      EXPECT_LE(d, 1) << "resize to " << s[0] << "x" << s[1];
      worst = std::max(worst, d);
      ++resizes;
    }
    for (const auto& cc : im["resize_shorter"]) {
      const auto out = resize_shorter_side(t, cc["size"].get<int64_t>());
      const auto s = cc["shape"].get<std::vector<int64_t>>();
      ASSERT_EQ(out.sizes(), at::IntArrayRef(s)) << "Resize(" << cc["size"] << ")";
      const int64_t d = resized_diff(out, from_hex(cc["out"], s));
      EXPECT_LE(d, 1);
      worst = std::max(worst, d);
    }
    for (const auto& cc : im["eval"]) {
      Preprocessing spec;
      spec.channels = c;
      const auto s = cc["size"].get<std::vector<int64_t>>();
      spec.height = s[0];
      spec.width = s[1];
      spec.eval = EvalTransform::ResizeCenterCrop;
      spec.eval_resize = cc["resize"];
      const int64_t d = resized_diff(eval_transform(decoded, spec), from_hex_like(cc["out"], c, s[0], s[1]));
      EXPECT_LE(d, 1) << "Resize(" << spec.eval_resize << ") + CenterCrop";
      worst = std::max(worst, d);
    }
    for (const auto& cc : im["train"]) {
      Preprocessing spec;
      spec.channels = c;
      const auto s = cc["size"].get<std::vector<int64_t>>();
      spec.height = s[0];
      spec.width = s[1];
      spec.train = TrainTransform::RandomResizedCrop;
      spec.scale_min = cc["scale"][0];
      spec.scale_max = cc["scale"][1];
      spec.ratio_min = cc["ratio"][0];
      spec.ratio_max = cc["ratio"][1];
      auto gen = seeded(cc["seed"].get<uint64_t>());
      const int64_t d = resized_diff(train_transform(decoded, spec, gen), from_hex_like(cc["out"], c, s[0], s[1]));
      EXPECT_LE(d, 1) << "RandomResizedCrop + flip, seed " << cc["seed"];
      worst = std::max(worst, d);
    }
  }
  EXPECT_GT(resizes, 0);
  // Measured (x86-64 with FMA, Debian LibTorch 1.13.1): 0 of 65,774 values differ; with unfused
  // multiply-adds (as on a CPU without FMA) 17 differed, by 1.
  std::printf("resizes vs torchvision: worst difference %lld, %lld of %lld values differ\n",
              static_cast<long long>(worst), static_cast<long long>(differing), static_cast<long long>(values));
  EXPECT_LT(differing * 100, values) << "more than 1% of the resized values differ from torchvision";
}

TEST(TransformsGolden, RandomResizedCropBoxesAndFlipDrawsEqualTorchvision) {
  const auto& groups = golden()["boxes"];
  int64_t cases = 0, fallbacks = 0;
  for (const auto& g : groups) {
    const auto hw = g["hw"].get<std::vector<int64_t>>();
    const auto scale = g["scale"].get<std::vector<double>>();
    const auto ratio = g["ratio"].get<std::vector<double>>();
    ASSERT_GE(g["boxes"].size(), 50u);
    for (size_t seed = 0; seed < g["boxes"].size(); ++seed) {
      const auto b = g["boxes"][seed].get<std::vector<int64_t>>();
      auto gen = seeded(seed);
      const CropBox box = random_resized_crop_box(hw[0], hw[1], scale[0], scale[1], ratio[0], ratio[1], gen);
      EXPECT_EQ(box, (CropBox{b[0], b[1], b[2], b[3]}))
          << hw[0] << "x" << hw[1] << " scale " << scale[0] << ".." << scale[1] << " ratio " << ratio[0] << ".."
          << ratio[1] << " seed " << seed << ": got " << box.top << "," << box.left << "," << box.height << ","
          << box.width;
      EXPECT_EQ(draw_flip(gen), b[4] != 0) << "the flip draw after the box, seed " << seed;
      ++cases;
      fallbacks += b[5];
    }
  }
  // Both paths are covered: boxes from a try, and the central-crop fallback (tiny / extreme images).
  EXPECT_GT(fallbacks, 100);
  EXPECT_GT(cases - fallbacks, 100);
}

TEST(TransformsGolden, CmykJpegAsPilConvertsIt) {
  const auto& cm = golden()["cmyk"];
  const auto expected = from_hex(cm["pixels"], cm["shape"].get<std::vector<int64_t>>());
  const auto got = image_to_tensor(read_image(kGoldenDir + cm["file"].get<std::string>()));
  EXPECT_EQ(max_diff(got, expected), 0);
}

// ---- transforms: contracts -------------------------------------------------------------

TEST(Transforms, ErrorsAndOwnership) {
  auto t = torch::randint(0, 256, {3, 10, 12}, torch::kUInt8);
  EXPECT_THROW(center_crop(t, 11, 5), ConfigError);
  EXPECT_THROW(crop(t, CropBox{5, 0, 6, 3}), ConfigError);
  EXPECT_THROW(crop(t, CropBox{0, -1, 2, 3}), ConfigError);
  EXPECT_THROW(resize_image(t.to(torch::kFloat), 4, 4), ConfigError);
  auto same = resize_image(t, 10, 12);
  EXPECT_TRUE(torch::equal(same, t));
  EXPECT_NE(same.data_ptr(), t.data_ptr());
  auto whole = crop(t, CropBox{0, 0, 10, 12});
  EXPECT_NE(whole.data_ptr(), t.data_ptr());
  // Resize(int) sizes: the longer side truncated.
  EXPECT_EQ(resize_shorter_side(torch::zeros({1, 375, 500}, torch::kUInt8), 256).sizes(),
            at::IntArrayRef({1, 256, 341}));
  EXPECT_EQ(resize_shorter_side(torch::zeros({1, 500, 375}, torch::kUInt8), 256).sizes(),
            at::IntArrayRef({1, 341, 256}));
}

TEST(Transforms, EvalCenterCropLargerThanTheResizedImageIsZeroPadded) {
  // Resize(10) of 20x40 is 10x20; CenterCrop(14x16) pads 2 rows above and below, as torchvision.
  DecodedImage image;
  image.height = 20;
  image.width = 40;
  image.channels = 1;
  image.pixels.assign(800, 200);
  Preprocessing spec;
  spec.channels = 1;
  spec.height = 14;
  spec.width = 16;
  spec.eval = EvalTransform::ResizeCenterCrop;
  spec.eval_resize = 10;
  auto out = eval_transform(image, spec);
  ASSERT_EQ(out.sizes(), at::IntArrayRef({1, 14, 16}));
  EXPECT_EQ(out[0][0].sum().item<int64_t>(), 0);
  EXPECT_EQ(out[0][1].sum().item<int64_t>(), 0);
  EXPECT_EQ(out[0][2].min().item<int64_t>(), 200);
  EXPECT_EQ(out[0][13].sum().item<int64_t>(), 0);
}

TEST(Transforms, SampleGeneratorDependsOnSeedEpochAndIndexOnly) {
  auto draw = [](uint64_t seed, int64_t epoch, int64_t index) {
    auto g = sample_generator(seed, epoch, index);
    return torch::rand({4}, g);
  };
  EXPECT_TRUE(torch::equal(draw(1, 2, 3), draw(1, 2, 3)));
  EXPECT_FALSE(torch::equal(draw(1, 2, 3), draw(1, 2, 4)));
  EXPECT_FALSE(torch::equal(draw(1, 2, 3), draw(1, 3, 3)));
  EXPECT_FALSE(torch::equal(draw(1, 2, 3), draw(2, 2, 3)));
  EXPECT_FALSE(torch::equal(draw(0, 0, 1), draw(0, 1, 0)));
}

// An image with smooth structure (JPEG-friendly), uint8 [c, h, w]; `period` scales its wavelengths
// (about 40 to 80 pixels at 1).
torch::Tensor smooth_image(int64_t c, int64_t h, int64_t w, double period = 1.0) {
  auto y = torch::arange(h, torch::kFloat).view({1, h, 1}) / period;
  auto x = torch::arange(w, torch::kFloat).view({1, 1, w}) / period;
  auto k = torch::arange(c, torch::kFloat).view({c, 1, 1});
  auto v = 127 + 80 * torch::sin(x / (9 + 3 * k) + y / 13) + 40 * torch::cos(y / (7 + k));
  return v.round().clamp(0, 255).to(torch::kUInt8);
}

Preprocessing rrc_spec(int64_t c, int64_t size) {
  Preprocessing spec;
  spec.channels = c;
  spec.height = spec.width = size;
  spec.train = TrainTransform::RandomResizedCrop;
  spec.eval = EvalTransform::ResizeCenterCrop;
  spec.eval_resize = size * 8 / 7;
  return spec;
}

TEST(Transforms, LoadSampleOfPngAndSmallJpegEqualsTheTransformOfTheDecode) {
  TempDir dir;
  const auto png = dir.file("a.png"), jpg = dir.file("a.jpg");
  write_png(png, smooth_image(3, 45, 61));
  write_jpeg(jpg, smooth_image(3, 45, 61), 90);
  for (const auto& path : {png, jpg}) {
    SCOPED_TRACE(path);
    for (int64_t c : {1, 3}) {
      const auto spec = rrc_spec(c, 16);  // boxes below 2x16: no DCT scaling, a region decode
      EXPECT_TRUE(torch::equal(load_eval_sample(path, spec), eval_transform(read_image(path), spec)));
      for (uint64_t seed = 0; seed < 20; ++seed) {
        auto g1 = sample_generator(seed, 0, 7), g2 = sample_generator(seed, 0, 7);
        const auto a = load_train_sample(path, spec, g1), b = train_transform(read_image(path), spec, g2);
        EXPECT_EQ(max_diff(a, b), 0) << "seed " << seed;
      }
    }
  }
}

TEST(Transforms, LoadSampleOfLargeJpegDecodesScaledCloseToTheFullDecode) {
  TempDir dir;
  const auto jpg = dir.file("big.jpg");
  // Photo-like: most of the energy at wavelengths well above the output's pixel (a 1/8 DCT
  // decode is a box filter, torchvision's antialias a triangle: they differ near Nyquist).
  write_jpeg(jpg, smooth_image(3, 600, 800, 5.0), 92);
  const auto spec = rrc_spec(3, 32);
  const auto full = read_image(jpg);
  // Eval: shorter side 36 of 600 -> 1/8 decode (75x100 >= 2 x 36x48).
  const auto e = load_eval_sample(jpg, spec), e_full = eval_transform(full, spec);
  ASSERT_EQ(e.sizes(), e_full.sizes());
  EXPECT_LT((e.to(torch::kFloat) - e_full.to(torch::kFloat)).abs().mean().item<double>(), 2.0);
  for (uint64_t seed = 0; seed < 10; ++seed) {
    auto g1 = sample_generator(seed, 1, 0), g2 = sample_generator(seed, 1, 0);
    const auto a = load_train_sample(jpg, spec, g1), b = train_transform(full, spec, g2);
    ASSERT_EQ(a.sizes(), b.sizes());
    const double mean = (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().mean().item<double>();
    EXPECT_LT(mean, 3.0) << "seed " << seed;
    // Same draws: the generators end in the same state.
    EXPECT_EQ(torch::rand({1}, g1).item<float>(), torch::rand({1}, g2).item<float>());
  }
}

TEST(Transforms, DecodeRegionAndScaleOfAJpeg) {
  TempDir dir;
  const auto jpg = dir.file("r.jpg");
  write_jpeg(jpg, smooth_image(3, 99, 130), 90);
  const auto bytes = read_all(jpg);
  const auto info = read_image_info(bytes, jpg);
  EXPECT_EQ(info.height, 99);
  EXPECT_EQ(info.width, 130);
  EXPECT_EQ(info.channels, 3);
  EXPECT_TRUE(info.jpeg);
  const auto whole = image_to_tensor(decode_image(bytes, jpg));
  DecodeOptions o;
  o.region = DecodeRegion{17, 23, 40, 51};
  const auto part = image_to_tensor(decode_image(bytes, jpg, o));
  EXPECT_EQ(max_diff(part, whole.narrow(1, 17, 40).narrow(2, 23, 51)), 0);
  for (int den : {2, 4, 8}) {  // a region of a scaled decode is that part of the whole scaled decode
    DecodeOptions q;
    q.jpeg_scale_denom = den;
    const auto scaled = image_to_tensor(decode_image(bytes, jpg, q));
    q.region = DecodeRegion{3, 5, 9, 7};
    EXPECT_EQ(max_diff(image_to_tensor(decode_image(bytes, jpg, q)), scaled.narrow(1, 3, 9).narrow(2, 5, 7)), 0)
        << "1/" << den;
  }
  o.region = {};
  o.jpeg_scale_denom = 4;
  const auto quarter = decode_image(bytes, jpg, o);
  EXPECT_EQ(quarter.height, 25);  // ceil(99 / 4)
  EXPECT_EQ(quarter.width, 33);
  o.region = DecodeRegion{20, 0, 6, 2};
  EXPECT_THROW(decode_image(bytes, jpg, o), ConfigError);
  o.jpeg_scale_denom = 3;
  EXPECT_THROW(decode_image(bytes, jpg, o), ConfigError);
}

TEST(Transforms, RegionDecodeOfProgressiveAndGreyJpegsEqualsTheWholeDecode) {
  TempDir dir;
  for (int64_t c : {1, 3}) {
    const auto path = dir.file("p" + std::to_string(c) + ".jpg");
    JpegWriteOptions progressive;  // quality 90, 4:2:0 for colour
    progressive.quality = 90;
    progressive.progressive = true;
    write_jpeg(path, smooth_image(c, 77, 101), progressive);
    const auto bytes = read_all(path);
    const auto whole = image_to_tensor(decode_image(bytes, path));
    for (const auto& r : {DecodeRegion{0, 0, 77, 40}, DecodeRegion{9, 17, 33, 61}, DecodeRegion{76, 100, 1, 1},
                          DecodeRegion{40, 0, 37, 101}}) {
      DecodeOptions o;
      o.region = r;
      EXPECT_EQ(max_diff(image_to_tensor(decode_image(bytes, path, o)),
                         whole.narrow(1, r.top, r.height).narrow(2, r.left, r.width)),
                0)
          << c << " channels, region " << r.height << "x" << r.width << " at (" << r.top << ", " << r.left << ")";
    }
  }
}

// ---- codec: files written with libjpeg / libpng ----------------------------------------

TEST(ImageCodec, CmykAndYcckJpegsBecomeRgbAsPilConvertsThem) {
  TempDir dir;
  // Flat 8x8 blocks of one CMYK value each, so quality 100 keeps them within a level or two.
  const std::vector<std::array<int, 4>> colours{{0, 0, 0, 0}, {255, 0, 0, 0}, {30, 200, 90, 10}, {128, 64, 255, 200}};
  auto cmyk = torch::zeros({4, 8, 32}, torch::kUInt8);
  for (size_t i = 0; i < colours.size(); ++i)
    for (int ch = 0; ch < 4; ++ch) cmyk[ch].narrow(1, int64_t(8 * i), 8).fill_(colours[i][size_t(ch)]);
  for (bool ycck : {false, true}) {
    SCOPED_TRACE(ycck ? "YCCK" : "CMYK");
    const auto path = dir.file(ycck ? "y.jpg" : "c.jpg");
    JpegWriteOptions o;
    o.quality = 100;
    o.ycck = ycck;
    o.no_subsampling = true;
    write_jpeg(path, cmyk, o);
    const auto image = read_image(path);
    ASSERT_EQ(image.channels, 3);
    const auto rgb = image_to_tensor(image);
    for (size_t i = 0; i < colours.size(); ++i) {
      // The file's samples are read as inverted (Adobe marker): C = 255 - written, etc.
      const int k = 255 - colours[i][3], nk = 255 - k;
      for (int ch = 0; ch < 3; ++ch) {
        const int c = 255 - colours[i][size_t(ch)];
        const int expected = int(std::lround(nk - c * nk / 255.0));
        const int got = rgb[ch][4][int64_t(8 * i + 4)].item<int>();
        EXPECT_NEAR(got, expected, 3) << "colour " << i << " channel " << ch;
      }
    }
  }
}

// A PNG written with libpng's regular API: `rows` already in the file's sample layout.
void write_png_raw(const std::string& path, int64_t w, int64_t h, int depth, int colour_type,
                   const std::vector<std::vector<uint8_t>>& rows) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, png_uint_32(w), png_uint_32(h), depth, colour_type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_gAMA(png, info, 1.0);  // linear light declared: must still not be gamma-converted
  png_write_info(png, info);
  for (const auto& row : rows) png_write_row(png, row.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

TEST(ImageCodec, SixteenBitPngKeepsTheHighByte) {
  TempDir dir;
  std::vector<std::vector<uint8_t>> grey(3), rgb(3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 86; ++x) {
      const int v = (y * 86 + x) % 256;  // grey: v * 257 -> v
      grey[size_t(y)].push_back(uint8_t(v));
      grey[size_t(y)].push_back(uint8_t(v));
      for (int ch = 0; ch < 3; ++ch) {  // rgb: (v, low byte 0xC0 + ch) -> v
        rgb[size_t(y)].push_back(uint8_t((v + 40 * ch) % 256));
        rgb[size_t(y)].push_back(uint8_t(0xC0 + ch));
      }
    }
  write_png_raw(dir.file("g16.png"), 86, 3, 16, PNG_COLOR_TYPE_GRAY, grey);
  write_png_raw(dir.file("c16.png"), 86, 3, 16, PNG_COLOR_TYPE_RGB, rgb);
  const auto g = read_image(dir.file("g16.png"));
  ASSERT_EQ(g.channels, 1);
  for (int i = 0; i < 3 * 86; ++i) ASSERT_EQ(g.pixels[size_t(i)], i % 256) << "pixel " << i;
  const auto c = read_image(dir.file("c16.png"));
  ASSERT_EQ(c.channels, 3);
  for (int i = 0; i < 3 * 86; ++i)
    for (int ch = 0; ch < 3; ++ch) ASSERT_EQ(c.pixels[size_t(3 * i + ch)], (i % 256 + 40 * ch) % 256);
}

TEST(ImageCodec, AlphaIsDroppedNotComposited) {
  TempDir dir;
  std::vector<std::vector<uint8_t>> rgba(2), ga(2);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 5; ++x) {
      const uint8_t alpha = uint8_t(x * 60);  // 0 (fully transparent) .. 240
      for (uint8_t v : {uint8_t(200), uint8_t(100 + x), uint8_t(10 * y), alpha}) rgba[size_t(y)].push_back(v);
      ga[size_t(y)].push_back(uint8_t(150 + x));
      ga[size_t(y)].push_back(alpha);
    }
  write_png_raw(dir.file("rgba.png"), 5, 2, 8, PNG_COLOR_TYPE_RGB_ALPHA, rgba);
  write_png_raw(dir.file("ga.png"), 5, 2, 8, PNG_COLOR_TYPE_GRAY_ALPHA, ga);
  const auto c = read_image(dir.file("rgba.png"));
  ASSERT_EQ(c.channels, 3);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 5; ++x) {
      const size_t at = size_t(3 * (y * 5 + x));
      EXPECT_EQ(c.pixels[at], 200);
      EXPECT_EQ(c.pixels[at + 1], 100 + x);
      EXPECT_EQ(c.pixels[at + 2], 10 * y);
    }
  const auto g = read_image(dir.file("ga.png"));
  ASSERT_EQ(g.channels, 1);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(g.pixels[size_t(i)], 150 + i % 5);
}

// Patches the big-endian 16-bit height and width of a JPEG's SOF marker.
std::string with_jpeg_size(std::string bytes, int height, int width) {
  for (size_t i = 2; i + 9 < bytes.size(); ++i) {
    const auto m = static_cast<unsigned char>(bytes[i + 1]);
    if (static_cast<unsigned char>(bytes[i]) == 0xFF && (m == 0xC0 || m == 0xC1 || m == 0xC2)) {
      bytes[i + 5] = char(height >> 8);
      bytes[i + 6] = char(height & 0xFF);
      bytes[i + 7] = char(width >> 8);
      bytes[i + 8] = char(width & 0xFF);
      return bytes;
    }
  }
  ADD_FAILURE() << "no SOF marker";
  return bytes;
}

TEST(ImageCodec, ImagesDeclaringMoreThanThePixelLimitAreRefusedFromTheHeader) {
  TempDir dir;
  write_jpeg(dir.file("a.jpg"), smooth_image(3, 16, 16));
  const auto big_jpg = dir.file("big.jpg");
  write_bytes(big_jpg, with_jpeg_size(read_all(dir.file("a.jpg")), 20000, 20000));
  expect_file_error([&] { read_image(big_jpg); }, {big_jpg, "20000x20000", "pixels"});
  expect_file_error([&] { read_image_info(read_all(big_jpg), big_jpg); }, {big_jpg, "pixels"});
  // 16384 x 16384 is the limit itself: the header passes (the data then is truncated).
  const auto at_limit = with_jpeg_size(read_all(dir.file("a.jpg")), 16384, 16384);
  EXPECT_EQ(read_image_info(at_limit, "x.jpg").height, 16384);

  write_png(dir.file("a.png"), smooth_image(1, 4, 4));
  std::string png = read_all(dir.file("a.png"));
  // IHDR width and height at bytes 16..23 (the chunk's CRC is not checked before the limit).
  png[16] = png[20] = 0;
  png[17] = png[21] = char(0x00);
  png[18] = png[22] = char(0x4E);  // 0x4E20 = 20000
  png[19] = png[23] = char(0x20);
  const auto big_png = dir.file("big.png");
  write_bytes(big_png, png);
  expect_file_error([&] { read_image(big_png); }, {big_png, "20000x20000", "pixels"});
}

TEST(ImageCodec, ReadImageInfoOfPng) {
  TempDir dir;
  write_png(dir.file("g.png"), smooth_image(1, 7, 9));
  write_png(dir.file("c.png"), smooth_image(3, 7, 9));
  const auto g = read_image_info(read_all(dir.file("g.png")), "g.png");
  EXPECT_EQ(g.height, 7);
  EXPECT_EQ(g.width, 9);
  EXPECT_EQ(g.channels, 1);
  EXPECT_FALSE(g.jpeg);
  EXPECT_EQ(read_image_info(read_all(dir.file("c.png")), "c.png").channels, 3);
  expect_file_error([&] { read_image_info("hello", "t.png"); }, {"t.png", "not a PNG or JPEG"});
}

}  // namespace
}  // namespace wrn::data
