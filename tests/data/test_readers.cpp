// Readers on small files in the real formats, plus their rejection of bad files.
#include <gtest/gtest.h>
#include <matio.h>
#include <torch/types.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>

#include "data_test_util.h"
#include "wrn/data/dataset.h"
#include "wrn/data/image_codec.h"
#include "wrn/data/readers.h"

namespace wrn::data {
namespace {

namespace fs = std::filesystem;
using namespace wrn::data::testing;

torch::Tensor random_u8(std::vector<int64_t> shape, int64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randint(0, 256, shape, gen, torch::kUInt8);
}

// ---------------------------------------------------------------- IDX (MNIST family)

struct IdxFiles {
  torch::Tensor images, labels;
};

IdxFiles write_idx(const TempDir& dir, const std::string& prefix, int64_t n, bool gz) {
  IdxFiles f{random_u8({n, 28, 28}, n), torch::arange(n, torch::kInt64).remainder(10).to(torch::kUInt8)};
  const std::string img = dir.file(prefix + "-images-idx3-ubyte" + (gz ? ".gz" : ""));
  const std::string lab = dir.file(prefix + "-labels-idx1-ubyte" + (gz ? ".gz" : ""));
  if (gz) {
    write_gzip(img, idx_images(f.images));
    write_gzip(lab, idx_labels(f.labels));
  } else {
    write_bytes(img, idx_images(f.images));
    write_bytes(lab, idx_labels(f.labels));
  }
  return f;
}

TEST(IdxReader, ReadsPlainAndGzipFiles) {
  TempDir dir;
  const auto train = write_idx(dir, "train", 12, false);
  const auto test = write_idx(dir, "t10k", 7, true);
  Dataset a = load_split("fashion-mnist", dir.path(), "train");
  EXPECT_EQ(a.images.sizes(), (std::vector<int64_t>{12, 1, 28, 28}));
  EXPECT_TRUE(torch::equal(a.images.squeeze(1), train.images));
  EXPECT_TRUE(torch::equal(a.labels, train.labels.to(torch::kInt64)));
  EXPECT_EQ(a.labels.scalar_type(), torch::kInt64);
  EXPECT_EQ(a.class_names.size(), 10u);
  EXPECT_EQ(a.class_names[0], "T-shirt/top");
  EXPECT_EQ(a.class_names[9], "Ankle boot");
  Dataset b = load_split("mnist", dir.path(), "test");
  EXPECT_EQ(b.size(), 7);
  EXPECT_TRUE(torch::equal(b.images.squeeze(1), test.images));
  EXPECT_EQ(b.class_names[3], "3");
}

// An IDX pair of 0 images: the reader used to memcpy from a null pointer (UBSan), and a test
// split of 0 images was accepted (test error 100%, loss 0 written to the metrics).
TEST(IdxReader, ZeroImagesReadWithoutUndefinedBehaviourAndAnEmptySplitIsAnError) {
  TempDir dir;
  write_idx(dir, "t10k", 0, false);
  write_idx(dir, "train", 3, true);
  const Dataset empty = load_idx_pair(dir.file("t10k-images-idx3-ubyte"), dir.file("t10k-labels-idx1-ubyte"),
                                      "mnist", std::vector<std::string>(10, "c"));
  EXPECT_EQ(empty.size(), 0);
  EXPECT_EQ(empty.images.sizes(), (std::vector<int64_t>{0, 1, 28, 28}));
  expect_file_error([&] { load_split("fashion-mnist", dir.path(), "test"); },
                    {dir.path() + ": the fashion-mnist 'test' split has no images"});
  EXPECT_EQ(load_split("fashion-mnist", dir.path(), "train").size(), 3);
}

// Issue 11: a small gzip file must not inflate into gigabytes. A header declaring more
// images than the limit is refused before any allocation; a stream carrying more data than
// its header declares stops at the declared size.
TEST(IdxReader, GzipBombsStopAtTheLimitsAndTheDeclaredSize) {
  const auto saved = read_limits();
  {  // the header declares 2^22 + 1 images of 28x28 (the images would be 3.3 GB)
    TempDir dir;
    write_idx(dir, "train", 5, true);
    std::string header = idx_images(torch::zeros({1, 28, 28}, torch::kUInt8)).substr(0, 16);
    const uint32_t n = (1u << 22) + 1;
    for (int i = 0; i < 4; ++i) header[4 + i] = static_cast<char>((n >> (24 - 8 * i)) & 0xff);
    const auto path = dir.file("train-images-idx3-ubyte.gz");
    write_gzip(path, header + std::string(1 << 20, '\0'));
    expect_file_error([&] { load_mnist(dir.path(), "train", true); }, {path});
  }
  {  // 5 images declared, 64 MB of zeros behind them: compressed to ~64 KB
    TempDir dir;
    write_idx(dir, "train", 5, true);
    const auto path = dir.file("train-images-idx3-ubyte.gz");
    write_gzip(path, idx_images(torch::zeros({5, 28, 28}, torch::kUInt8)) + std::string(64 << 20, '\0'));
    EXPECT_LT(std::filesystem::file_size(path), 1u << 20);
    expect_file_error([&] { load_mnist(dir.path(), "train", true); }, {path});
  }
  {  // a lower byte limit (set_read_limits) names the file
    TempDir dir;
    write_idx(dir, "train", 50, true);
    set_read_limits(ReadLimits{10 * 784, saved.max_images});
    const auto path = dir.file("train-images-idx3-ubyte.gz");
    expect_file_error([&] { load_mnist(dir.path(), "train", true); }, {path});
    set_read_limits(saved);
    EXPECT_EQ(load_mnist(dir.path(), "train", true).size(), 50);
  }
  set_read_limits(saved);
}

TEST(IdxReader, RejectsBadFiles) {
  {  // missing
    TempDir dir;
    expect_file_error([&] { load_mnist(dir.path(), "train", true); },
                      {"train-images-idx3-ubyte", "not found"});
  }
  {  // truncated image data
    TempDir dir;
    write_idx(dir, "train", 5, false);
    const auto path = dir.file("train-images-idx3-ubyte");
    truncate_file(path, 16 + 4 * 784 + 100);
    expect_file_error([&] { load_mnist(dir.path(), "train", true); }, {path, "truncated"});
  }
  {  // truncated header
    TempDir dir;
    write_idx(dir, "train", 5, false);
    const auto path = dir.file("train-labels-idx1-ubyte");
    truncate_file(path, 6);
    expect_file_error([&] { load_mnist(dir.path(), "train", true); }, {path, "truncated"});
  }
  {  // truncated gzip stream
    TempDir dir;
    write_idx(dir, "t10k", 50, true);
    const auto path = dir.file("t10k-images-idx3-ubyte.gz");
    truncate_file(path, read_all(path).size() / 2);
    expect_file_error([&] { load_mnist(dir.path(), "test", true); }, {path});
  }
  {  // wrong magic (a label file where the images belong)
    TempDir dir;
    write_idx(dir, "train", 5, false);
    const auto path = dir.file("train-images-idx3-ubyte");
    write_bytes(path, idx_labels(torch::zeros({5 * 784}, torch::kUInt8)));
    expect_file_error([&] { load_mnist(dir.path(), "train", true); }, {path, "magic 0x00000801"});
  }
  {  // count mismatch
    TempDir dir;
    write_idx(dir, "train", 5, false);
    const auto path = dir.file("train-labels-idx1-ubyte");
    write_bytes(path, idx_labels(torch::zeros({4}, torch::kUInt8)));
    expect_file_error([&] { load_mnist(dir.path(), "train", true); }, {path, "4 labels", "5 images"});
  }
  {  // label out of range
    TempDir dir;
    write_idx(dir, "train", 5, false);
    const auto path = dir.file("train-labels-idx1-ubyte");
    write_bytes(path, idx_labels(torch::tensor({1, 2, 10, 3, 4}, torch::kUInt8)));
    expect_file_error([&] { load_mnist(dir.path(), "train", true); }, {path, "label 10", "out of range"});
  }
  EXPECT_THROW(load_split("fashion-mnist", "/nonexistent", "validation"), ConfigError);
  EXPECT_THROW(load_split("fashon-mnist", "/nonexistent", "train"), ConfigError);
}

TEST(IdxReader, RealFashionMnist) {
  const std::string dir = default_data_dir("fashion-mnist");
  if (!fs::exists(dir + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed at " << dir;
  Dataset train = load_split("fashion-mnist", dir, "train");
  Dataset test = load_split("fashion-mnist", dir, "test");
  EXPECT_EQ(train.images.sizes(), (std::vector<int64_t>{60000, 1, 28, 28}));
  EXPECT_EQ(test.images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  EXPECT_TRUE(torch::equal(train.labels.bincount(), torch::full({10}, 6000, torch::kInt64)));
  EXPECT_TRUE(torch::equal(test.labels.bincount(), torch::full({10}, 1000, torch::kInt64)));
  // Real images: not constant, and using the full 0..255 range.
  EXPECT_EQ(train.images.max().item<int>(), 255);
  EXPECT_EQ(train.images.min().item<int>(), 0);
  const double mean = train.images.to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(mean, 72.94, 0.1);  // the well-known Fashion-MNIST train mean (0.2860 * 255)
}

// ---------------------------------------------------------------- CIFAR

// Records of `header` label bytes + 3072 pixels; returns the pixel tensor [n, 3, 32, 32].
torch::Tensor write_records(const std::string& path, const std::vector<std::vector<uint8_t>>& labels,
                            int64_t seed) {
  const auto n = int64_t(labels.size());
  auto pixels = random_u8({n, 3, 32, 32}, seed);
  std::string bytes;
  for (int64_t i = 0; i < n; ++i) {
    for (uint8_t l : labels[size_t(i)]) bytes.push_back(char(l));
    bytes.append(reinterpret_cast<const char*>(pixels[i].contiguous().data_ptr<uint8_t>()), 3072);
  }
  write_bytes(path, bytes);
  return pixels;
}

TEST(CifarReader, ReadsCifar10FromFolderOrParent) {
  TempDir dir;
  std::vector<torch::Tensor> train_pixels;
  for (int b = 1; b <= 5; ++b)
    train_pixels.push_back(write_records(
        dir.file(fmt::format("cifar-10-batches-bin/data_batch_{}.bin", b)),
        {{uint8_t(b)}, {uint8_t(9)}, {uint8_t(0)}}, b));
  auto test_pixels = write_records(dir.file("cifar-10-batches-bin/test_batch.bin"), {{3}, {4}}, 9);
  for (const std::string& root : {dir.path(), dir.path() + "/cifar-10-batches-bin"}) {
    Dataset train = load_split("cifar10", root, "train");
    EXPECT_EQ(train.images.sizes(), (std::vector<int64_t>{15, 3, 32, 32}));
    EXPECT_TRUE(torch::equal(train.images, torch::cat(train_pixels)));
    EXPECT_EQ(train.labels[3].item<int64_t>(), 2);
    EXPECT_EQ(train.labels[4].item<int64_t>(), 9);
    EXPECT_EQ(train.class_names[0], "airplane");
    Dataset test = load_split("cifar10", root, "test");
    EXPECT_TRUE(torch::equal(test.images, test_pixels));
    EXPECT_TRUE(torch::equal(test.labels, torch::tensor({3, 4}, torch::kInt64)));
  }
  // Class names from batches.meta.txt when present.
  write_bytes(dir.file("cifar-10-batches-bin/batches.meta.txt"), "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n");
  EXPECT_EQ(load_split("cifar10", dir.path(), "test").class_names[9], "j");
  write_bytes(dir.file("cifar-10-batches-bin/batches.meta.txt"), "a\nb\n");
  expect_file_error([&] { load_split("cifar10", dir.path(), "test"); },
                    {"batches.meta.txt", "2 class names", "expected 10"});
}

TEST(CifarReader, Cifar10RejectsBadFiles) {
  auto make = [](const TempDir& dir) {
    for (int b = 1; b <= 5; ++b)
      write_records(dir.file(fmt::format("data_batch_{}.bin", b)), {{1}, {2}}, b);
    write_records(dir.file("test_batch.bin"), {{1}}, 7);
  };
  {
    TempDir dir;
    make(dir);
    fs::remove(dir.file("data_batch_3.bin"));
    expect_file_error([&] { load_cifar10(dir.path(), "train"); }, {"data_batch_3.bin", "not found"});
  }
  {
    TempDir dir;
    expect_file_error([&] { load_cifar10(dir.path(), "test"); }, {"test_batch.bin", "not found"});
  }
  {
    TempDir dir;
    make(dir);
    truncate_file(dir.file("data_batch_2.bin"), 3073 + 1000);
    expect_file_error([&] { load_cifar10(dir.path(), "train"); }, {"data_batch_2.bin", "3073-byte record"});
  }
  {
    TempDir dir;
    make(dir);
    write_records(dir.file("test_batch.bin"), {{1}, {10}}, 7);
    expect_file_error([&] { load_cifar10(dir.path(), "test"); }, {"test_batch.bin", "label 10", "record 1"});
  }
}

TEST(CifarReader, RecordsOverTheImageLimitAreRejectedBeforeReading) {
  TempDir dir;
  write_records(dir.file("test_batch.bin"), {{1}, {2}, {3}}, 7);
  write_records(dir.file("test.bin"), {{1, 2}, {3, 4}, {5, 6}}, 8);
  const ReadLimits saved = read_limits();
  set_read_limits(ReadLimits{saved.max_bytes, 2});
  expect_file_error([&] { load_cifar10(dir.path(), "test"); },
                    {dir.file("test_batch.bin"), "3 images", "limit of 2", "WRN_MAX_IMAGES"});
  expect_file_error([&] { load_cifar100(dir.path(), "test", false); },
                    {dir.file("test.bin"), "3 images", "limit of 2"});
  set_read_limits(ReadLimits{saved.max_bytes, 3});
  EXPECT_EQ(load_cifar10(dir.path(), "test").size(), 3);
  set_read_limits(saved);
}

TEST(CifarReader, ReadsCifar100FineAndCoarse) {
  TempDir dir;
  auto pixels = write_records(dir.file("cifar-100-binary/train.bin"), {{19, 99}, {0, 5}, {7, 42}}, 3);
  write_records(dir.file("cifar-100-binary/test.bin"), {{1, 2}}, 4);
  Dataset fine = load_split("cifar100", dir.path(), "train");
  EXPECT_TRUE(torch::equal(fine.images, pixels));
  EXPECT_TRUE(torch::equal(fine.labels, torch::tensor({99, 5, 42}, torch::kInt64)));
  ASSERT_EQ(fine.class_names.size(), 100u);
  EXPECT_EQ(fine.class_names[99], "worm");
  Dataset coarse = load_split("cifar100-coarse", dir.path() + "/cifar-100-binary", "train");
  EXPECT_TRUE(torch::equal(coarse.labels, torch::tensor({19, 0, 7}, torch::kInt64)));
  ASSERT_EQ(coarse.class_names.size(), 20u);
  EXPECT_EQ(coarse.class_names[19], "vehicles_2");
  EXPECT_EQ(load_split("cifar100", dir.path(), "test").size(), 1);
  write_bytes(dir.file("cifar-100-binary/fine_label_names.txt"), "x\n");
  expect_file_error([&] { load_split("cifar100", dir.path(), "test"); },
                    {"fine_label_names.txt", "expected 100"});
}

TEST(CifarReader, Cifar100RejectsBadFiles) {
  {
    TempDir dir;
    write_records(dir.file("train.bin"), {{1, 2}, {3, 100}}, 1);
    expect_file_error([&] { load_cifar100(dir.path(), "train", false); }, {"train.bin", "label 100"});
  }
  {  // a bad coarse byte fails the fine reader too: not a CIFAR-100 file
    TempDir dir;
    write_records(dir.file("train.bin"), {{20, 2}}, 1);
    expect_file_error([&] { load_cifar100(dir.path(), "train", false); }, {"train.bin", "out of range"});
  }
  {
    TempDir dir;
    write_records(dir.file("test.bin"), {{1, 2}, {3, 4}}, 1);
    truncate_file(dir.file("test.bin"), 3074 + 3000);
    expect_file_error([&] { load_cifar100(dir.path(), "test", true); }, {"test.bin", "3074-byte record"});
  }
  {
    TempDir dir;
    expect_file_error([&] { load_cifar100(dir.path(), "test", true); }, {"test.bin", "not found"});
  }
}

// ---------------------------------------------------------------- SVHN (.mat)

// X(h, w, c, n) = (h + 2w + 5c + 7n) mod 256, stored column-major as MATLAB does.
uint8_t svhn_pixel(size_t h, size_t w, size_t c, size_t n) { return uint8_t((h + 2 * w + 5 * c + 7 * n) % 256); }

template <typename Label>
void write_svhn(const std::string& path, const std::vector<Label>& y, matio_classes y_class,
                matio_types y_type, bool compress, size_t n_x = 0) {
  const size_t n = n_x ? n_x : y.size();
  std::vector<uint8_t> x(32 * 32 * 3 * n);
  for (size_t i = 0; i < n; ++i)
    for (size_t c = 0; c < 3; ++c)
      for (size_t w = 0; w < 32; ++w)
        for (size_t h = 0; h < 32; ++h) x[h + 32 * (w + 32 * (c + 3 * i))] = svhn_pixel(h, w, c, i);
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, MAT_FT_MAT5);
  ASSERT_NE(mat, nullptr);
  size_t xdims[4] = {32, 32, 3, n};
  size_t ydims[2] = {y.size(), 1};
  matvar_t* xv = Mat_VarCreate("X", MAT_C_UINT8, MAT_T_UINT8, 4, xdims, x.data(), 0);
  matvar_t* yv = Mat_VarCreate("y", y_class, y_type, 2, ydims, const_cast<Label*>(y.data()), 0);
  const auto mode = compress ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE;
  ASSERT_EQ(Mat_VarWrite(mat, xv, mode), 0);
  ASSERT_EQ(Mat_VarWrite(mat, yv, mode), 0);
  Mat_VarFree(xv);
  Mat_VarFree(yv);
  Mat_Close(mat);
}

TEST(SvhnReader, ReadsMatFiles) {
  TempDir dir;
  write_svhn<double>(dir.file("train_32x32.mat"), {1, 10, 5}, MAT_C_DOUBLE, MAT_T_DOUBLE, false);
  write_svhn<uint8_t>(dir.file("extra_32x32.mat"), {10, 2}, MAT_C_UINT8, MAT_T_UINT8, true);
  Dataset train = load_split("svhn", dir.path(), "train");
  ASSERT_EQ(train.images.sizes(), (std::vector<int64_t>{3, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(train.labels, torch::tensor({1, 0, 5}, torch::kInt64)));
  auto acc = train.images.accessor<uint8_t, 4>();
  for (int n : {0, 2})
    for (int c : {0, 2})
      for (int h : {0, 3, 31})
        for (int w : {1, 30}) ASSERT_EQ(acc[n][c][h][w], svhn_pixel(h, w, c, n)) << n << c << h << w;
  Dataset both = load_split("svhn", dir.path(), "train+extra");
  EXPECT_EQ(both.size(), 5);
  EXPECT_TRUE(torch::equal(both.labels, torch::tensor({1, 0, 5, 0, 2}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(both.images.narrow(0, 3, 2), load_split("svhn", dir.path(), "extra").images));
  EXPECT_EQ(both.class_names.size(), 10u);
}

TEST(SvhnReader, RejectsBadFiles) {
  {
    TempDir dir;
    expect_file_error([&] { load_svhn(dir.path(), "test"); }, {"test_32x32.mat", "not found"});
  }
  for (bool compress : {false, true}) {
    TempDir dir;
    const auto path = dir.file("test_32x32.mat");
    write_svhn<double>(path, std::vector<double>(20, 3.0), MAT_C_DOUBLE, MAT_T_DOUBLE, compress);
    truncate_file(path, read_all(path).size() * 2 / 3);
    expect_file_error([&] { load_svhn(dir.path(), "test"); }, {path});
  }
  {
    TempDir dir;
    const auto path = dir.file("test_32x32.mat");
    write_bytes(path, "this is not a MATLAB file at all, just some text that is long enough........"
                      "............................................................................"
                      "............................................................................");
    expect_file_error([&] { load_svhn(dir.path(), "test"); }, {path});
  }
  {  // count mismatch
    TempDir dir;
    const auto path = dir.file("test_32x32.mat");
    write_svhn<double>(path, {1, 2}, MAT_C_DOUBLE, MAT_T_DOUBLE, false, 3);
    expect_file_error([&] { load_svhn(dir.path(), "test"); }, {path, "N = 3"});
  }
  {  // label out of range
    TempDir dir;
    const auto path = dir.file("test_32x32.mat");
    write_svhn<double>(path, {1, 11}, MAT_C_DOUBLE, MAT_T_DOUBLE, false);
    expect_file_error([&] { load_svhn(dir.path(), "test"); }, {path, "label 11"});
  }
  {  // wrong variable name
    TempDir dir;
    const auto path = dir.file("test_32x32.mat");
    mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, MAT_FT_MAT5);
    size_t dims[2] = {2, 1};
    double v[2] = {1, 2};
    matvar_t* var = Mat_VarCreate("labels", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, v, 0);
    Mat_VarWrite(mat, var, MAT_COMPRESSION_NONE);
    Mat_VarFree(var);
    Mat_Close(mat);
    expect_file_error([&] { load_svhn(dir.path(), "test"); }, {path, "'X'"});
  }
  EXPECT_THROW(load_svhn("/nonexistent", "valid"), ConfigError);
}

// The same file with each top-level data element zlib-compressed into a miCOMPRESSED element,
// as MATLAB's -v7 writes them: lets a test edit the plain bytes (dims) before compressing.
std::string compress_mat_elements(const std::string& plain) {
  std::string out = plain.substr(0, 128);
  size_t pos = 128;
  while (pos + 8 <= plain.size()) {
    uint32_t bytes;
    std::memcpy(&bytes, plain.data() + pos + 4, 4);
    const std::string element = plain.substr(pos, 8 + bytes);
    uLongf size = compressBound(element.size());
    std::string packed(size, '\0');
    EXPECT_EQ(compress(reinterpret_cast<Bytef*>(packed.data()), &size,
                       reinterpret_cast<const Bytef*>(element.data()), element.size()),
              Z_OK);
    packed.resize(size);
    const uint32_t tag[2] = {15, static_cast<uint32_t>(size)};  // miCOMPRESSED
    out.append(reinterpret_cast<const char*>(tag), 8);
    out += packed;
    pos += 8 + bytes;
  }
  return out;
}

TEST(SvhnReader, HugeDeclaredArrayIsALimitError) {
  // X's dims are [32,32,3,N] at bytes 160..175 of an uncompressed file (header 128, matrix tag
  // 8, array flags 16, dims tag 8): declare 2^30 images (3 TiB) in a 6 KB file.
  TempDir dir;
  const auto path = dir.file("test_32x32.mat");
  write_svhn<double>(path, {1, 2}, MAT_C_DOUBLE, MAT_T_DOUBLE, false);
  std::string bytes = read_all(path);
  uint32_t n;
  std::memcpy(&n, bytes.data() + 172, 4);
  ASSERT_EQ(n, 2u);
  n = 1u << 30;
  std::memcpy(bytes.data() + 172, &n, 4);
  for (bool compress : {false, true}) {
    write_bytes(path, compress ? compress_mat_elements(bytes) : bytes);
    ASSERT_LT(fs::file_size(path), 8000u);
    expect_file_error([&] { load_svhn(dir.path(), "test"); },
                      {path, "variable 'X'", "uint8 [32,32,3,1073741824]",
                       std::to_string(uint64_t{3072} << 30), "limit", "WRN_MAX_DATA_BYTES"});
  }
  // The limits are configurable: a lower byte limit and a lower image limit.
  write_svhn<uint8_t>(path, {1, 2}, MAT_C_UINT8, MAT_T_UINT8, true);
  const ReadLimits saved = read_limits();
  set_read_limits(ReadLimits{6000, saved.max_images});
  expect_file_error([&] { load_svhn(dir.path(), "test"); }, {path, "6144 bytes", "limit of 6000"});
  set_read_limits(ReadLimits{saved.max_bytes, 1});
  expect_file_error([&] { load_svhn(dir.path(), "test"); }, {path, "2 images", "limit of 1", "WRN_MAX_IMAGES"});
  set_read_limits(saved);
  EXPECT_EQ(load_svhn(dir.path(), "test").size(), 2);
  // A compressed file re-packed by the helper reads like the original.
  write_svhn<double>(path, {1, 2, 3}, MAT_C_DOUBLE, MAT_T_DOUBLE, false);
  const Dataset plain = load_svhn(dir.path(), "test");
  write_bytes(path, compress_mat_elements(read_all(path)));
  const Dataset packed = load_svhn(dir.path(), "test");
  EXPECT_TRUE(torch::equal(plain.images, packed.images));
  EXPECT_TRUE(torch::equal(plain.labels, packed.labels));
}

TEST(SvhnReader, CorruptCompressedDataIsAFileError) {
  TempDir dir;
  const auto path = dir.file("test_32x32.mat");
  write_svhn<double>(path, std::vector<double>(20, 3.0), MAT_C_DOUBLE, MAT_T_DOUBLE, true);
  const std::string good = read_all(path);
  EXPECT_EQ(load_svhn(dir.path(), "test").size(), 20);
  uint32_t tag[2];
  std::memcpy(tag, good.data() + 128, 8);
  ASSERT_EQ(tag[0], 15u);  // X is a miCOMPRESSED element
  // A byte in the middle of X's deflate data, and one in its adler-32 trailer (the pixels
  // inflate unchanged: only zlib's check can tell).
  for (size_t offset : {size_t{128 + 8 + tag[1] / 2}, size_t{128 + 8 + tag[1] - 2}}) {
    std::string bad = good;
    bad[offset] = static_cast<char>(bad[offset] ^ 0x10);
    write_bytes(path, bad);
    expect_file_error([&] { load_svhn(dir.path(), "test"); }, {path});
  }
}

TEST(SvhnReader, EveryTruncationIsAFileError) {
  // uint8 labels are the last variable: a cut inside them used to leave uninitialized labels.
  for (bool compress : {false, true}) {
    TempDir dir;
    const auto path = dir.file("test_32x32.mat");
    write_svhn<uint8_t>(path, std::vector<uint8_t>(20, 3), MAT_C_UINT8, MAT_T_UINT8, compress);
    const std::string good = read_all(path);
    EXPECT_EQ(load_svhn(dir.path(), "test").size(), 20);
    std::vector<size_t> keeps;
    for (size_t keep = 0; keep < good.size(); keep += 97) keeps.push_back(keep);
    for (size_t cut = 1; cut <= 40 && cut < good.size(); ++cut) keeps.push_back(good.size() - cut);
    for (size_t keep : keeps) {
      write_bytes(path, good.substr(0, keep));
      SCOPED_TRACE(fmt::format("compress {} keep {} of {}", compress, keep, good.size()));
      expect_file_error([&] { load_svhn(dir.path(), "test"); }, {path});
    }
  }
}

// ---------------------------------------------------------------- image folders

TEST(ImageCodec, DecodesPngAndJpeg) {
  TempDir dir;
  auto rgb = random_u8({3, 9, 13}, 1);
  write_png(dir.file("a.png"), rgb);
  auto a = image_to_tensor(read_image(dir.file("a.png")));
  EXPECT_TRUE(torch::equal(a, rgb));
  auto grey = random_u8({1, 8, 8}, 2);
  write_png(dir.file("g.png"), grey);
  EXPECT_TRUE(torch::equal(image_to_tensor(read_image(dir.file("g.png"))), grey));
  EXPECT_TRUE(torch::equal(image_to_tensor(read_image(dir.file("g.png")), 3), grey.expand({3, 8, 8})));
  // A smooth image survives JPEG at high quality within a few levels.
  auto smooth = (torch::arange(16 * 16).view({1, 16, 16}).repeat({3, 1, 1}) +
                 torch::tensor({0, 40, 80}).view({3, 1, 1}))
                    .clamp(0, 255)
                    .to(torch::kUInt8);
  write_jpeg(dir.file("s.jpg"), smooth, 100);
  auto s = image_to_tensor(read_image(dir.file("s.jpg")));
  EXPECT_LE((s.to(torch::kInt) - smooth.to(torch::kInt)).abs().max().item<int>(), 8);

  write_bytes(dir.file("text.png"), "hello");
  expect_file_error([&] { read_image(dir.file("text.png")); }, {"text.png", "not a PNG or JPEG"});
  const auto png = dir.file("a.png");
  truncate_file(png, read_all(png).size() / 2);
  expect_file_error([&] { read_image(png); }, {png, "PNG"});
  write_jpeg(dir.file("big.jpg"), random_u8({3, 64, 64}, 3), 90);
  truncate_file(dir.file("big.jpg"), read_all(dir.file("big.jpg")).size() / 2);
  expect_file_error([&] { read_image(dir.file("big.jpg")); }, {"big.jpg", "JPEG"});
}

TEST(ImageFolderReader, LoadsClassFolders) {
  TempDir dir;
  std::vector<torch::Tensor> cats = {random_u8({3, 10, 12}, 1), random_u8({3, 10, 12}, 2)};
  auto dog = random_u8({1, 10, 12}, 3);  // grey: replicated to RGB
  write_png(dir.file("train/cat/1.png"), cats[0]);
  write_png(dir.file("train/cat/2.PNG"), cats[1]);
  write_bytes(dir.file("train/cat/notes.txt"), "ignored");
  write_png(dir.file("train/dog/x.png"), dog);
  write_jpeg(dir.file("train/emu/e.jpg"), random_u8({3, 20, 24}, 4));  // resized to 10x12
  write_png(dir.file("val/dog/v.png"), dog);
  ImageFolderOptions options;
  options.threads = 3;
  Dataset train = load_split("folder", dir.path(), "train", options);
  EXPECT_EQ(train.class_names, (std::vector<std::string>{"cat", "dog", "emu"}));
  ASSERT_EQ(train.images.sizes(), (std::vector<int64_t>{4, 3, 10, 12}));
  EXPECT_TRUE(torch::equal(train.labels, torch::tensor({0, 0, 1, 2}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(train.images[0], cats[0]));
  EXPECT_TRUE(torch::equal(train.images[1], cats[1]));
  EXPECT_TRUE(torch::equal(train.images[2], dog.expand({3, 10, 12})));
  // "val" takes its class order from "train": dog stays label 1; all grey -> 1 channel.
  Dataset val = load_split("folder", dir.path(), "test");
  EXPECT_EQ(val.class_names.size(), 3u);
  EXPECT_TRUE(torch::equal(val.labels, torch::tensor({1}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(val.images[0], dog));
  // A fixed size.
  options.height = 5;
  options.width = 6;
  EXPECT_EQ(load_image_folder(dir.path() + "/train", options).images.sizes(),
            (std::vector<int64_t>{4, 3, 5, 6}));
}

TEST(ImageFolderReader, RejectsBadFolders) {
  TempDir dir;
  expect_file_error([&] { load_split("folder", dir.path(), "train"); }, {"train", "not found"});
  write_png(dir.file("train/a/1.png"), random_u8({3, 4, 4}, 1));
  fs::create_directories(dir.path() + "/train/b");
  expect_file_error([&] { load_split("folder", dir.path(), "train"); }, {"train/b", "no .png"});
  write_png(dir.file("train/b/1.png"), random_u8({3, 4, 4}, 1));
  write_jpeg(dir.file("train/b/2.jpg"), random_u8({3, 32, 32}, 2));
  truncate_file(dir.file("train/b/2.jpg"), 300);
  expect_file_error([&] { load_split("folder", dir.path(), "train"); }, {"train/b/2.jpg"});
  write_png(dir.file("val/zebra/1.png"), random_u8({3, 4, 4}, 1));
  expect_file_error([&] { load_split("folder", dir.path(), "val"); }, {"zebra", "not one of"});
}

// ---------------------------------------------------------------- Dataset

TEST(DatasetStore, SubsetAndTo) {
  Dataset set;
  set.name = "t";
  set.images = random_u8({6, 1, 2, 2}, 1);
  set.labels = torch::arange(6, torch::kInt64);
  set.class_names = {"a", "b", "c", "d", "e", "f"};
  Dataset sub = set.subset(torch::tensor({4, 1}, torch::kInt64));
  EXPECT_EQ(sub.size(), 2);
  EXPECT_TRUE(torch::equal(sub.images[0], set.images[4]));
  EXPECT_TRUE(torch::equal(sub.labels, torch::tensor({4, 1}, torch::kInt64)));
  EXPECT_EQ(sub.num_classes(), 6);
  EXPECT_THROW(set.subset(torch::tensor({6}, torch::kInt64)), ConfigError);
  Dataset moved = set.to(torch::kCPU);
  EXPECT_TRUE(torch::equal(moved.images, set.images));
  EXPECT_EQ(dataset_kinds().size(), 7u);
  EXPECT_EQ(default_data_dir("fashion-mnist"), "/usr/share/datasets/fashion-mnist");
  EXPECT_NE(default_data_dir("cifar100-coarse").find("cifar100"), std::string::npos);
  EXPECT_THROW(default_data_dir("cifar1000"), ConfigError);
}

}  // namespace
}  // namespace wrn::data
