// CIFAR-10 / CIFAR-100 binary-version readers.
#include <torch/types.h>

#include <cstring>
#include <filesystem>

#include "wrn/core/error.h"
#include "wrn/data/file_bytes.h"
#include "wrn/data/readers.h"

namespace wrn::data {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kPixels = 3 * 32 * 32;

// `dir` itself when it holds `probe`, else `dir`/`folder` when that does.
std::string resolve_folder(const std::string& dir, const std::string& folder,
                           const std::string& probe) {
  if (detail::is_regular_file((fs::path(dir) / probe).string())) return dir;
  const std::string nested = (fs::path(dir) / folder).string();
  if (detail::is_regular_file((fs::path(nested) / probe).string())) return nested;
  throw FileError(fmt::format("{}: file not found (nor {}/{})", (fs::path(dir) / probe).string(),
                              nested, probe));
}

// Reads fixed-size records from `paths`; `label_offset` is the label byte's position within
// the record and `label_count` the label range. Pixels follow the label byte(s).
Dataset read_records(const std::vector<std::string>& paths, int64_t header_bytes,
                     int64_t label_offset, size_t label_count, const std::string& name,
                     int64_t other_offset = -1, size_t other_count = 0) {
  const int64_t record = header_bytes + kPixels;
  std::vector<std::string> files;
  int64_t total = 0;
  for (const auto& path : paths) {
    // The records a file's size implies, checked before the file is read or anything allocated.
    std::error_code ec;
    const auto file_size = fs::file_size(path, ec);
    if (!ec) detail::check_declared_images(path, file_size / static_cast<uint64_t>(record));
    files.push_back(detail::read_bytes(path));
    const auto size = static_cast<int64_t>(files.back().size());
    WRN_CHECK_FILE(size > 0 && size % record == 0,
                   "{}: {} bytes is not a positive multiple of the {}-byte record (truncated or "
                   "not a {} binary file)",
                   path, size, record, name);
    total += size / record;
  }
  Dataset set;
  set.name = name;
  set.images = torch::empty({total, 3, 32, 32}, torch::kUInt8);
  set.labels = torch::empty({total}, torch::kInt64);
  auto* images = set.images.data_ptr<uint8_t>();
  auto* labels = set.labels.data_ptr<int64_t>();
  int64_t row = 0;
  for (size_t f = 0; f < files.size(); ++f) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(files[f].data());
    const int64_t count = static_cast<int64_t>(files[f].size()) / record;
    for (int64_t i = 0; i < count; ++i, ++row) {
      const unsigned char* rec = bytes + i * record;
      const unsigned label = rec[label_offset];
      WRN_CHECK_FILE(label < label_count, "{}: label {} of record {} is out of range [0, {})",
                     paths[f], label, i, label_count);
      if (other_offset >= 0) {
        const unsigned other = rec[other_offset];
        WRN_CHECK_FILE(other < other_count,
                       "{}: label byte {} = {} of record {} is out of range [0, {})", paths[f],
                       other_offset, other, i, other_count);
      }
      labels[row] = label;
      std::memcpy(images + row * kPixels, rec + header_bytes, kPixels);
    }
  }
  return set;
}

// Names from `path` when it exists (it must list `expected` names), else `fallback`.
std::vector<std::string> names_or_default(const std::string& path, size_t expected,
                                          const std::vector<std::string>& fallback) {
  if (!detail::is_regular_file(path)) return fallback;
  auto names = read_name_lines(path);
  WRN_CHECK_FILE(names.size() == expected, "{}: {} class names, expected {}", path, names.size(),
                 expected);
  return names;
}

}  // namespace

const std::vector<std::string>& cifar10_classes() {
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",
                                                 "deer",     "dog",        "frog",  "horse",
                                                 "ship",     "truck"};
  return names;
}

const std::vector<std::string>& cifar100_fine_classes() {
  static const std::vector<std::string> names = {
      "apple",        "aquarium_fish", "baby",       "bear",         "beaver",     "bed",
      "bee",          "beetle",        "bicycle",    "bottle",       "bowl",       "boy",
      "bridge",       "bus",           "butterfly",  "camel",        "can",        "castle",
      "caterpillar",  "cattle",        "chair",      "chimpanzee",   "clock",      "cloud",
      "cockroach",    "couch",         "crab",       "crocodile",    "cup",        "dinosaur",
      "dolphin",      "elephant",      "flatfish",   "forest",       "fox",        "girl",
      "hamster",      "house",         "kangaroo",   "keyboard",     "lamp",       "lawn_mower",
      "leopard",      "lion",          "lizard",     "lobster",      "man",        "maple_tree",
      "motorcycle",   "mountain",      "mouse",      "mushroom",     "oak_tree",   "orange",
      "orchid",       "otter",         "palm_tree",  "pear",         "pickup_truck", "pine_tree",
      "plain",        "plate",         "poppy",      "porcupine",    "possum",     "rabbit",
      "raccoon",      "ray",           "road",       "rocket",       "rose",       "sea",
      "seal",         "shark",         "shrew",      "skunk",        "skyscraper", "snail",
      "snake",        "spider",        "squirrel",   "streetcar",    "sunflower",  "sweet_pepper",
      "table",        "tank",          "telephone",  "television",   "tiger",      "tractor",
      "train",        "trout",         "tulip",      "turtle",       "wardrobe",   "whale",
      "willow_tree",  "wolf",          "woman",      "worm"};
  return names;
}

const std::vector<std::string>& cifar100_coarse_classes() {
  static const std::vector<std::string> names = {
      "aquatic_mammals",      "fish",
      "flowers",              "food_containers",
      "fruit_and_vegetables", "household_electrical_devices",
      "household_furniture",  "insects",
      "large_carnivores",     "large_man-made_outdoor_things",
      "large_natural_outdoor_scenes", "large_omnivores_and_herbivores",
      "medium_mammals",       "non-insect_invertebrates",
      "people",               "reptiles",
      "small_mammals",        "trees",
      "vehicles_1",           "vehicles_2"};
  return names;
}

Dataset load_cifar10(const std::string& dir, const std::string& split) {
  WRN_CHECK(split == "train" || split == "test",
            "cifar10: unknown split '{}' (expected train or test)", split);
  const std::string root = resolve_folder(dir, "cifar-10-batches-bin",
                                          split == "train" ? "data_batch_1.bin" : "test_batch.bin");
  std::vector<std::string> paths;
  if (split == "train") {
    for (int i = 1; i <= 5; ++i) {
      const std::string path = (fs::path(root) / fmt::format("data_batch_{}.bin", i)).string();
      WRN_CHECK_FILE(detail::is_regular_file(path), "{}: {}", path, detail::why_not_a_data_file(path));
      paths.push_back(path);
    }
  } else {
    paths.push_back((fs::path(root) / "test_batch.bin").string());
  }
  Dataset set = read_records(paths, 1, 0, 10, "cifar10");
  set.class_names =
      names_or_default((fs::path(root) / "batches.meta.txt").string(), 10, cifar10_classes());
  return set;
}

Dataset load_cifar100(const std::string& dir, const std::string& split, bool coarse) {
  const std::string name = coarse ? "cifar100-coarse" : "cifar100";
  WRN_CHECK(split == "train" || split == "test", "{}: unknown split '{}' (expected train or test)",
            name, split);
  const std::string file = split + ".bin";
  const std::string root = resolve_folder(dir, "cifar-100-binary", file);
  Dataset set = read_records({(fs::path(root) / file).string()}, 2, coarse ? 0 : 1,
                             coarse ? 20 : 100, name,
                             // The other label must be in range too: a file that fails either
                             // check is not a CIFAR-100 file.
                             coarse ? 1 : 0, coarse ? 100 : 20);
  set.class_names =
      coarse ? names_or_default((fs::path(root) / "coarse_label_names.txt").string(), 20,
                                cifar100_coarse_classes())
             : names_or_default((fs::path(root) / "fine_label_names.txt").string(), 100,
                                cifar100_fine_classes());
  return set;
}

}  // namespace wrn::data
