#include "wrn/data/dataset.h"

#include <cstdlib>
#include <filesystem>

#include "wrn/core/error.h"
#include "wrn/core/text.h"
#include "wrn/data/file_bytes.h"
#include "wrn/data/readers.h"

namespace wrn::data {

namespace fs = std::filesystem;

Dataset Dataset::to(const torch::Device& device) const {
  Dataset out = *this;
  if (images.defined()) out.images = images.to(device);
  if (labels.defined()) out.labels = labels.to(device);
  return out;
}

Dataset Dataset::subset(const torch::Tensor& indices) const {
  WRN_CHECK(indices.defined() && indices.dim() == 1 &&
                (indices.scalar_type() == torch::kInt64 || indices.scalar_type() == torch::kInt32),
            "{}: subset indices must be a 1-D integer tensor", name);
  const auto idx = indices.to(images.device(), torch::kInt64);
  if (idx.numel() > 0) {
    const int64_t lo = idx.min().item<int64_t>();
    const int64_t hi = idx.max().item<int64_t>();
    WRN_CHECK(lo >= 0 && hi < size(), "{}: subset indices must be in [0, {}), got [{}, {}]", name,
              size(), lo, hi);
  }
  Dataset out;
  out.name = name;
  out.class_names = class_names;
  out.images = images.index_select(0, idx);
  out.labels = labels.index_select(0, idx.to(labels.device()));
  return out;
}

const std::vector<DatasetKindInfo>& dataset_kind_table() {
  static const std::vector<DatasetKindInfo> table = [] {
    std::vector<std::string> digits;
    for (int d = 0; d < 10; ++d) digits.push_back(std::to_string(d));
    return std::vector<DatasetKindInfo>{
        {"fashion-mnist", 1, 28, 28, fashion_mnist_classes()},
        {"mnist", 1, 28, 28, digits},
        {"cifar10", 3, 32, 32, cifar10_classes()},
        {"cifar100", 3, 32, 32, cifar100_fine_classes()},
        {"cifar100-coarse", 3, 32, 32, cifar100_coarse_classes()},
        {"svhn", 3, 32, 32, digits},  // label 10 of the files is digit 0
        {"folder", 0, 0, 0, {}},
    };
  }();
  return table;
}

const DatasetKindInfo& dataset_kind(const std::string& name) {
  for (const auto& k : dataset_kind_table()) {
    if (k.name == name) return k;
  }
  const auto kinds = dataset_kinds();
  throw ConfigError(fmt::format("unknown data set '{}' (expected one of {}){}", name, join(kinds, ", "),
                                did_you_mean(name, kinds)));
}

std::vector<std::string> dataset_kinds() {
  std::vector<std::string> names;
  for (const auto& k : dataset_kind_table()) names.push_back(k.name);
  return names;
}

std::string default_data_dir(const std::string& kind) {
  dataset_kind(kind);  // an unknown kind is an error
  if (kind == "fashion-mnist") return "/usr/share/datasets/fashion-mnist";
  // The others: $WRN_DATA_DIR/<kind> (cifar100-coarse shares cifar100's files), else ./data/<kind>.
  const std::string folder = kind == "cifar100-coarse" ? "cifar100" : kind;
  const char* root = std::getenv("WRN_DATA_DIR");
  return (fs::path(root && *root ? root : "data") / folder).string();
}

Dataset load_split(const std::string& kind, const std::string& dir, const std::string& split) {
  return load_split(kind, dir, split, ImageFolderOptions{});
}

namespace {

Dataset read_split(const std::string& kind, const std::string& dir, const std::string& split,
                   const ImageFolderOptions& folder_options) {
  if (kind == "fashion-mnist" || kind == "mnist") return load_mnist(dir, split, kind == "fashion-mnist");
  if (kind == "cifar10") return load_cifar10(dir, split);
  if (kind == "cifar100" || kind == "cifar100-coarse")
    return load_cifar100(dir, split, kind == "cifar100-coarse");
  if (kind == "svhn") return load_svhn(dir, split);
  if (kind == "folder") {
    WRN_CHECK(split == "train" || split == "val" || split == "test",
              "folder: unknown split '{}' (expected train, val or test)", split);
    const std::string sub = split == "train" ? "train" : "val";
    const std::string root = (fs::path(dir) / sub).string();
    WRN_CHECK_FILE(detail::is_directory(root),
                   "{}: directory not found (an image folder needs {}/<class>/<images>)", root, sub);
    ImageFolderOptions options = folder_options;
    const std::string train_root = (fs::path(dir) / "train").string();
    if (sub == "val" && options.class_names.empty() && detail::is_directory(train_root)) {
      for (const auto& entry : fs::directory_iterator(train_root))
        if (entry.is_directory()) options.class_names.push_back(entry.path().filename().string());
      std::sort(options.class_names.begin(), options.class_names.end());
    }
    return load_image_folder(root, options);
  }
  dataset_kind(kind);  // throws for an unknown kind
  throw ConfigError(fmt::format("data set '{}' has no reader", kind));
}

}  // namespace

Dataset load_split(const std::string& kind, const std::string& dir, const std::string& split,
                   const ImageFolderOptions& folder_options) {
  auto set = read_split(kind, dir, split, folder_options);
  // An empty split is a broken download or a wrong file, never a usable data set: a test set of
  // 0 images used to "evaluate" to 100% error and a loss of 0.
  WRN_CHECK_FILE(set.size() > 0, "{}: the {} '{}' split has no images", dir, kind, split);
  return set;
}

}  // namespace wrn::data
