// Image lists (data/image_list.h): class folders, list files and their errors, where a split
// lives, and the stratified splits and subsets.
#include <gtest/gtest.h>
#include <torch/types.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include "data_test_util.h"
#include "wrn/core/error.h"
#include "wrn/data/image_list.h"

namespace wrn::data {
namespace {

namespace fs = std::filesystem;
using testing::expect_file_error;
using testing::TempDir;
using testing::write_bytes;

// Listing never decodes: a few bytes stand for an image.
void touch(const std::string& path) { write_bytes(path, "not decoded"); }

std::vector<std::string> names(std::initializer_list<const char*> l) { return {l.begin(), l.end()}; }

TEST(ImageList, ListsClassFoldersInSortedOrder) {
  TempDir dir;
  touch(dir.file("train/cat/b.png"));
  touch(dir.file("train/cat/a.JPG"));
  write_bytes(dir.file("train/cat/notes.txt"), "ignored");
  touch(dir.file("train/dog/x.jpeg"));
  fs::create_directories(dir.path() + "/train/dog/nested.png");  // a folder, not an image
  const auto root = dir.path() + "/train";
  const ImageList list = list_image_folder(root);
  EXPECT_EQ(list.name, "folder:" + root);
  EXPECT_EQ(list.class_names, names({"cat", "dog"}));
  EXPECT_EQ(list.paths, (std::vector<std::string>{root + "/cat/a.JPG", root + "/cat/b.png", root + "/dog/x.jpeg"}));
  EXPECT_EQ(list.labels, (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(list.size(), 3);

  // The given label order; a class without a folder has no images.
  const ImageList given = list_image_folder(root, names({"emu", "dog", "cat"}));
  EXPECT_EQ(given.class_names, names({"emu", "dog", "cat"}));
  EXPECT_EQ(given.labels, (std::vector<int64_t>{2, 2, 1}));

  expect_file_error([&] { list_image_folder(root, names({"cats", "dog"})); },
                    {root + "/cat", "class folder 'cat' is not one of the 2 known classes", "did you mean 'cats'"});
  fs::create_directories(root + "/empty");
  expect_file_error([&] { list_image_folder(root); }, {root + "/empty", "no .png/.jpg/.jpeg images"});
  expect_file_error([&] { list_image_folder(dir.path() + "/nope"); }, {dir.path() + "/nope", "directory not found"});
  expect_file_error([&] { list_image_folder(root + "/cat/b.png"); }, {"b.png", "directory not found"});
  fs::create_directories(dir.path() + "/flat");
  touch(dir.file("flat/1.png"));
  expect_file_error([&] { list_image_folder(dir.path() + "/flat"); }, {"flat", "no class sub-folders"});
}

TEST(ImageList, AnUnreadableClassFolderIsNamed) {
  TempDir dir;
  touch(dir.file("train/a/1.png"));
  const auto locked = dir.path() + "/train/b";
  fs::create_directories(locked);
  touch(dir.file("train/b/1.png"));
  fs::permissions(locked, fs::perms::none);
  const bool readable = ::access(locked.c_str(), R_OK) == 0;  // root reads anything
  if (!readable) expect_file_error([&] { list_image_folder(dir.path() + "/train"); }, {locked, "cannot read"});
  fs::permissions(locked, fs::perms::owner_all);
  if (readable) GTEST_SKIP() << "running as root: permissions are not enforced";
}

TEST(ImageList, ReadsListFiles) {
  TempDir dir;
  touch(dir.file("data/img/a.png"));
  touch(dir.file("data/img/b c.jpg"));  // a space in a name
  touch(dir.file("data/img/d.jpeg"));
  touch(dir.file("abs.png"));
  const auto list_path = dir.file("data/val.txt");
  write_bytes(list_path,
              "# path<TAB>label\n"
              "\n"
              "img/a.png\tdog\n"
              "  img/b c.jpg\tcat\r\n"
              "   # indented comment\n"
              "img/d.jpeg\t1\n" +
                  dir.path() + "/abs.png\tcat\n");
  const ImageList named = read_image_list_file(list_path, names({"cat", "dog"}));
  EXPECT_EQ(named.name, "list:" + list_path);
  EXPECT_EQ(named.class_names, names({"cat", "dog"}));
  const auto base = dir.path() + "/data/";
  EXPECT_EQ(named.paths, (std::vector<std::string>{base + "img/a.png", base + "img/b c.jpg", base + "img/d.jpeg",
                                                   dir.path() + "/abs.png"}));
  EXPECT_EQ(named.labels, (std::vector<int64_t>{1, 0, 1, 0}));

  // No names given, names in the file: the sorted distinct labels ("1" is then a name too).
  const ImageList own = read_image_list_file(list_path);
  EXPECT_EQ(own.class_names, names({"1", "cat", "dog"}));
  EXPECT_EQ(own.labels, (std::vector<int64_t>{2, 1, 0, 1}));

  // Integers only: the classes are 0..max.
  write_bytes(list_path, "img/a.png\t2\nimg/d.jpeg\t0\n");
  const ImageList ints = read_image_list_file(list_path);
  EXPECT_EQ(ints.class_names, names({"0", "1", "2"}));
  EXPECT_EQ(ints.labels, (std::vector<int64_t>{2, 0}));
}

TEST(ImageList, ListFileErrorsNameTheFileAndLine) {
  TempDir dir;
  touch(dir.file("a.png"));
  const auto path = dir.file("train.txt");
  const auto classes = names({"cat", "dog"});
  auto expect_line_error = [&](const std::string& content, const std::vector<std::string>& parts) {
    write_bytes(path, content);
    expect_file_error([&] { read_image_list_file(path, classes); }, parts);
  };
  expect_line_error("a.png\tcat\n# c\nmissing.png\tdog\ngone.jpg\tcat\n",
                    {path + ":3:", dir.path() + "/missing.png not found", "2 of the 3 listed files are missing"});
  expect_line_error("a.png\tcta\n", {path + ":1:", "unknown class 'cta'", "did you mean 'cat'"});
  expect_line_error("a.png\tcat\na.png\t2\n", {path + ":2:", "class index 2 is out of range", "2 classes"});
  expect_line_error("a.png\tcat\na.png\t-1\n", {path + ":2:", "unknown class '-1'"});
  expect_line_error("\na.png cat\n", {path + ":2:", "expected 'relative/path<TAB>label'", "'a.png cat'"});
  expect_line_error("a.png\tcat\textra\n", {path + ":1:", "one TAB"});
  expect_line_error("a.png\t \n", {path + ":1:", "expected 'relative/path<TAB>label'"});
  expect_line_error("\tcat\n", {path + ":1:", "expected 'relative/path<TAB>label'"});
  expect_line_error("notes.txt\tcat\n", {path + ":1:", "'notes.txt' is not a .png/.jpg/.jpeg file name"});
  expect_line_error("# only a comment\n\n", {path, "lists no images"});
  expect_file_error([&] { read_image_list_file(dir.path() + "/none.txt", classes); },
                    {dir.path() + "/none.txt", "list file not found"});
}

TEST(ImageList, FindSplitLooksForFoldersThenListFilesThenTheOtherOfValAndTest) {
  TempDir dir;
  const auto d = dir.path();
  touch(dir.file("train/a/1.png"));
  touch(dir.file("val/a/2.png"));
  SplitSource train = find_split(d, "train");
  EXPECT_EQ(train.path, d + "/train");
  EXPECT_FALSE(train.is_list_file);
  EXPECT_EQ(train.description(), d + "/train");
  EXPECT_EQ(list_split(train).size(), 1);

  // test with only val/: val, and it says so.
  const SplitSource test = find_split(d, "test");
  EXPECT_EQ(test.found, "val");
  EXPECT_EQ(test.path, d + "/val");
  EXPECT_EQ(test.description(), d + "/val (no 'test' split; using 'val')");
  EXPECT_EQ(find_split(d, "val").found, "val");

  // A list file of the split itself comes before the other split's folder.
  write_bytes(dir.file("test.tsv"), "train/a/1.png\ta\n");
  const SplitSource tsv = find_split(d, "test");
  EXPECT_EQ(tsv.found, "test");
  EXPECT_TRUE(tsv.is_list_file);
  EXPECT_EQ(tsv.path, d + "/test.tsv");
  EXPECT_EQ(list_split(tsv, names({"a"})).paths, std::vector<std::string>{d + "/train/a/1.png"});
  write_bytes(dir.file("test.txt"), "val/a/2.png\ta\n");
  EXPECT_EQ(find_split(d, "test").path, d + "/test.txt");
  touch(dir.file("test/a/3.png"));
  EXPECT_EQ(find_split(d, "test").path, d + "/test");
  fs::remove_all(d + "/val");
  EXPECT_EQ(find_split(d, "val").found, "test");  // and the other way round

  expect_file_error([&] { find_split(d, "extra"); },
                    {d, "no 'extra' split", d + "/extra/", d + "/extra.txt", d + "/extra.tsv"});
  fs::remove_all(d + "/train");
  fs::remove_all(d + "/test");
  fs::remove(d + "/test.txt");
  fs::remove(d + "/test.tsv");
  expect_file_error([&] { find_split(d, "val"); },
                    {"no 'val' split", d + "/val/", d + "/val.tsv", d + "/test/", d + "/test.txt", d + "/test.tsv"});
  expect_file_error([&] { find_split(d + "/missing", "train"); }, {"missing", "directory not found"});
  EXPECT_THROW(find_split(d, "../train"), ConfigError);
  EXPECT_THROW(find_split(d, ""), ConfigError);
}

// A list of classes with the given sizes (labels 0, 1, ... in blocks), paths "c<label>/<i>.png".
ImageList synthetic(const std::vector<int64_t>& sizes) {
  ImageList list;
  list.name = "test";
  for (size_t c = 0; c < sizes.size(); ++c) {
    list.class_names.push_back("c" + std::to_string(c));
    for (int64_t i = 0; i < sizes[c]; ++i) {
      list.paths.push_back("c" + std::to_string(c) + "/" + std::to_string(i) + ".png");
      list.labels.push_back(static_cast<int64_t>(c));
    }
  }
  return list;
}

std::map<int64_t, int64_t> counts(const std::vector<int64_t>& labels) {
  std::map<int64_t, int64_t> m;
  for (auto l : labels) ++m[l];
  return m;
}

torch::Tensor labels_tensor(const ImageList& l) { return torch::tensor(l.labels, torch::kInt64); }

std::vector<int64_t> as_vector(const torch::Tensor& t) {
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

TEST(ImageList, StratifiedSplitHoldsOutRoundedFractionPerClass) {
  const ImageList list = synthetic({10, 5, 2, 1, 7});
  const auto s = stratified_split(list, 0.2, 42);
  // round(2.0), round(1.0), at least 1 of 2, none of a single image, round(1.4).
  EXPECT_EQ(counts(s.held_out.labels), (std::map<int64_t, int64_t>{{0, 2}, {1, 1}, {2, 1}, {4, 1}}));
  EXPECT_EQ(s.train.size() + s.held_out.size(), list.size());
  EXPECT_EQ(s.train.class_names, list.class_names);
  EXPECT_EQ(s.held_out.name, list.name);
  // Disjoint, the whole list, each part in list order.
  std::set<std::string> all(s.train.paths.begin(), s.train.paths.end());
  for (const auto& p : s.held_out.paths) EXPECT_TRUE(all.insert(p).second) << p;
  EXPECT_EQ(all, std::set<std::string>(list.paths.begin(), list.paths.end()));
  EXPECT_TRUE(std::is_sorted(s.train.paths.begin(), s.train.paths.end()));  // "c<c>/<i>" with i < 10: list order
  for (size_t i = 0; i < s.held_out.paths.size(); ++i)
    EXPECT_EQ(s.held_out.labels[i], std::stoll(s.held_out.paths[i].substr(1)));  // labels follow their paths

  // Deterministic; another seed chooses others.
  EXPECT_EQ(stratified_split(list, 0.2, 42).held_out.paths, s.held_out.paths);
  EXPECT_NE(stratified_split(list, 0.2, 43).held_out.paths, s.held_out.paths);

  EXPECT_EQ(stratified_split(list, 0.0, 1).held_out.size(), 0);
  EXPECT_EQ(stratified_split(list, 1.0, 1).train.size(), 0);
  // A fraction below 1 leaves each class of >= 1 image a training image: round(0.9 * 2) = 2 -> 1.
  EXPECT_EQ(counts(stratified_split(list, 0.9, 1).train.labels),
            (std::map<int64_t, int64_t>{{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}}));
  EXPECT_THROW(stratified_split(list, -0.1, 1), ConfigError);
  EXPECT_THROW(stratified_split(list, 1.5, 1), ConfigError);

  // The index form makes the same choice.
  const auto idx = stratified_split_indices(labels_tensor(list), 0.2, 42);
  EXPECT_EQ(idx.held_out.scalar_type(), torch::kInt64);
  EXPECT_EQ(list.subset(as_vector(idx.held_out)).paths, s.held_out.paths);
  EXPECT_EQ(list.subset(as_vector(idx.train)).paths, s.train.paths);
  EXPECT_THROW(stratified_split_indices(torch::tensor({0, -1}, torch::kInt64), 0.5, 1), ConfigError);
}

// Each member of a class is held out equally often over seeds (an unbiased shuffle).
TEST(ImageList, StratifiedChoiceIsUniformOverSeeds) {
  const ImageList list = synthetic({4});
  std::map<std::string, int> held;
  for (uint64_t seed = 0; seed < 4000; ++seed) ++held[stratified_split(list, 0.25, seed).held_out.paths.at(0)];
  ASSERT_EQ(held.size(), 4u);
  for (const auto& [path, n] : held) {
    EXPECT_GT(n, 850) << path;
    EXPECT_LT(n, 1150) << path;
  }
}

TEST(ImageList, StratifiedSubsetKeepsProportionsByLargestRemainder) {
  const ImageList list = synthetic({50, 30, 20});
  const auto sub = stratified_subset(list, 10, 7);
  EXPECT_EQ(counts(sub.labels), (std::map<int64_t, int64_t>{{0, 5}, {1, 3}, {2, 2}}));
  EXPECT_TRUE(std::is_sorted(sub.paths.begin(), sub.paths.end(), [](const std::string& a, const std::string& b) {
    return std::make_pair(a[1], std::stoi(a.substr(3))) < std::make_pair(b[1], std::stoi(b.substr(3)));
  }));
  EXPECT_EQ(std::set<std::string>(sub.paths.begin(), sub.paths.end()).size(), 10u);
  EXPECT_EQ(stratified_subset(list, 10, 7).paths, sub.paths);
  EXPECT_NE(stratified_subset(list, 10, 8).paths, sub.paths);
  // 5 of {5, 3, 2}: 2.5, 1.5, 1.0 -> 2, 1, 1 and the one left to the tie's lower class.
  EXPECT_EQ(counts(stratified_subset(synthetic({5, 3, 2}), 5, 1).labels),
            (std::map<int64_t, int64_t>{{0, 3}, {1, 1}, {2, 1}}));
  // 7 of {1, 1, 8}: 0.7, 0.7, 5.6 -> 0, 0, 5; the two left go to the remainders 7, 7 (not 6).
  EXPECT_EQ(counts(stratified_subset(synthetic({1, 1, 8}), 7, 1).labels),
            (std::map<int64_t, int64_t>{{0, 1}, {1, 1}, {2, 5}}));
  EXPECT_EQ(stratified_subset(list, 100, 1).paths, list.paths);
  EXPECT_EQ(stratified_subset(list, 1000, 1).paths, list.paths);
  EXPECT_EQ(stratified_subset(list, 0, 1).size(), 0);
  EXPECT_THROW(stratified_subset(list, -1, 1), ConfigError);

  const auto idx = stratified_subset_indices(labels_tensor(list), 10, 7);
  EXPECT_EQ(list.subset(as_vector(idx)).paths, sub.paths);
  EXPECT_EQ(stratified_subset_indices(labels_tensor(list), 0, 7).numel(), 0);
  EXPECT_THROW(list.subset({100}), ConfigError);
}

}  // namespace
}  // namespace wrn::data
