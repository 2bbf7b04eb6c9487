#include "wrn/setup/data_setup.h"

#include <ATen/CPUGeneratorImpl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "wrn/core/error.h"
#include "wrn/core/text.h"
#include "wrn/core/threads.h"
#include "wrn/data/augment.h"
#include "wrn/data/image_codec.h"
#include "wrn/data/image_list.h"
#include "wrn/data/transforms.h"
#include "wrn/models/summary.h"

namespace fs = std::filesystem;

namespace wrn::train {
namespace {

// Seeds of the data selections, apart from the engine's (seed, epoch) streams.
constexpr uint64_t kValSeed = 0x76616c;    // "val"
constexpr uint64_t kLimitSeed = 0x6c696d;  // "lim"

std::string data_dir(const TrainConfig& c) {
  return c.data.dir.empty() ? data::default_data_dir(c.data.kind) : c.data.dir;
}

uint64_t total_ram_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : uint64_t(8) << 30;
}

data::ImageList list_split(const std::string& dir, const std::string& split,
                           const std::vector<std::string>& class_names, std::string* resolved) {
  WRN_CHECK_FILE(fs::is_directory(dir), "{}: data directory not found (data.kind folder expects {}/train/<class>/<images>)",
                 dir, dir);
  const auto source = data::find_split(dir, split);
  *resolved = source.description();
  return data::list_split(source, class_names);
}

std::vector<int64_t> as_vector(const torch::Tensor& t) {
  auto c = t.to(torch::kInt64).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// Channels a folder's images have: 1 when the sampled images (the first of each class, up to
// 64 classes, and up to 64 spread over the whole list) are all grey. With `skip_bad`, an
// unreadable sample is passed over (the loaders skip and report it); otherwise it is the error.
int64_t sampled_channels(const data::ImageList& list, bool skip_bad) {
  std::map<int64_t, size_t> first;
  for (size_t i = 0; i < list.paths.size() && first.size() < 64; ++i) first.emplace(list.labels[i], i);
  std::vector<size_t> sample;
  for (const auto& [cls, i] : first) sample.push_back(i);
  const size_t n = list.paths.size(), spread = std::min<size_t>(n, 64);
  for (size_t k = 0; k < spread; ++k) sample.push_back(k * n / spread);
  for (size_t i : sample) {
    try {
      if (data::read_image(list.paths[i]).channels != 1) return 3;
    } catch (const FileError&) {
      if (!skip_bad) throw;
    }
  }
  return 1;
}

// The first readable image of the list (the first, unless `skip_bad` passes over bad ones).
data::DecodedImage first_image(const data::ImageList& list, bool skip_bad, std::string* path = nullptr) {
  for (size_t i = 0; i < list.paths.size(); ++i) {
    try {
      if (path) *path = list.paths[i];
      return data::read_image(list.paths[i]);
    } catch (const FileError&) {
      if (!skip_bad || i + 1 == list.paths.size()) throw;
    }
  }
  return data::read_image(list.paths.front());
}

// A built-in set converted to the spec's channels and size (the eval geometry, batched).
data::Dataset to_spec(data::Dataset d, const data::Preprocessing& spec) {
  auto& x = d.images;
  x = data::convert_channels(x, spec.channels);
  if (x.size(2) != spec.height || x.size(3) != spec.width) {
    std::vector<torch::Tensor> parts;
    for (int64_t i = 0; i < x.size(0); i += 1024) {
      auto chunk = x.narrow(0, i, std::min<int64_t>(1024, x.size(0) - i));
      if (spec.eval == data::EvalTransform::Resize) {
        parts.push_back(data::resize_batch(chunk, spec.height, spec.width));
      } else {
        std::vector<torch::Tensor> rows;
        for (int64_t j = 0; j < chunk.size(0); ++j)
          rows.push_back(data::center_crop(data::resize_shorter_side(chunk[j], spec.eval_resize), spec.height,
                                           spec.width));
        parts.push_back(torch::stack(rows));
      }
    }
    x = torch::cat(parts);
  }
  return d;
}

}  // namespace

data::LoaderOptions loader_options(const TrainConfig& c) {
  data::LoaderOptions o;
  o.workers = c.data.workers > 0 ? c.data.workers : hardware_threads();
  o.skip_bad = c.data.on_bad_image == OnBadImage::Skip;
  return o;
}

RunData load_run_data(const TrainConfig& c, bool load_train, const std::vector<std::string>& class_names) {
  RunData r;
  const auto dir = data_dir(c);
  const auto& kind = data::dataset_kind(c.data.kind);
  auto limit = [&](data::SplitData s, int64_t n, uint64_t role) {
    return n > 0 && n < s.size() ? s.subset(as_vector(data::stratified_subset_indices(s.labels, n, c.seed ^ role))) : s;
  };

  if (c.data.kind != "folder") {
    data::Dataset train_set, test_set;
    if (load_train) train_set = data::load_split(c.data.kind, dir, c.data.train_split);
    test_set = data::load_split(c.data.kind, dir, c.data.test_split);
    r.spec = data::Preprocessing::resolve(c.data, c.data.augment, kind.channels, kind.height, kind.width);
    if (load_train) r.train = limit(data::in_memory(to_spec(std::move(train_set), r.spec)), c.data.limit_train, kLimitSeed);
    r.test = limit(data::in_memory(to_spec(std::move(test_set), r.spec)), c.data.limit_test, kLimitSeed + 1);
    r.storage_reason = "in memory (a built-in data set)";
  } else {
    data::ImageList train_list;
    std::string train_folder;
    if (load_train) train_list = list_split(dir, c.data.train_split, {}, &train_folder);
    auto test_list = list_split(dir, c.data.test_split, load_train ? train_list.class_names : class_names, &r.test_folder);
    // Eval without the checkpoint's class names (an old run): the split's own sorted folders.
    const auto& ref = load_train ? train_list : test_list;
    const bool skip_bad = c.data.on_bad_image == OnBadImage::Skip;
    int64_t height = 0, width = 0, channels = c.data.channels;
    if (c.data.image_size.empty()) {
      std::string first_path;
      const auto first = first_image(ref, skip_bad, &first_path);
      height = first.height;
      width = first.width;
      // The first image sizes every batch: a photo of 16000x16000 pixels asked for a 65 GB batch
      // and failed in the allocator, far from the cause.
      const double batch_bytes = double(std::max<int64_t>(c.data.batch_size, 1)) * double(height) * double(width) *
                                 double(std::max<int64_t>(channels, 3)) * sizeof(float);
      const double available = double(models::available_memory_bytes());
      WRN_CHECK(available <= 0 || batch_bytes <= available / 8,
                "{}: the first training image is {}x{} pixels and data.image_size is not set, so every image would "
                "be resized to it: one batch of {} would take {:.1f} GB; set data.image_size (e.g. 224)",
                first_path, width, height, c.data.batch_size, batch_bytes / 1e9);
    }
    if (channels == 0) channels = sampled_channels(ref, skip_bad);
    r.spec = data::Preprocessing::resolve(c.data, c.data.augment, channels, height, width);
    auto train = load_train ? limit(data::streamed(std::move(train_list)), c.data.limit_train, kLimitSeed)
                            : data::SplitData{};
    auto test = limit(data::streamed(std::move(test_list)), c.data.limit_test, kLimitSeed + 1);
    const uint64_t decoded = uint64_t(train.size() + test.size()) * uint64_t(r.spec.channels * r.spec.height * r.spec.width);
    const bool rrc = r.spec.train == data::TrainTransform::RandomResizedCrop;
    switch (c.data.storage) {
      case Storage::Memory:
        WRN_CHECK(!rrc || !load_train,
                  "config: 'data.train_transform' random_resized_crop crops the original images, which are not kept "
                  "in memory: use data.storage stream or auto");
        r.streamed = false;
        r.storage_reason = "in memory (data.storage memory)";
        break;
      case Storage::Stream:
        r.streamed = true;
        r.storage_reason = "streamed (data.storage stream)";
        break;
      case Storage::Auto:
        if (rrc && load_train) {
          r.streamed = true;
          r.storage_reason = "streamed (data.storage auto: random_resized_crop crops the original images)";
        } else if (decoded > total_ram_bytes() / 4) {
          r.streamed = true;
          r.storage_reason = fmt::format("streamed (data.storage auto: decoded, the images would take {:.1f} GB, "
                                         "more than a quarter of the {:.1f} GB of RAM)",
                                         double(decoded) / 1e9, double(total_ram_bytes()) / 1e9);
        } else {
          r.storage_reason = fmt::format("in memory (data.storage auto: {:.2f} GB decoded)", double(decoded) / 1e9);
        }
        break;
    }
    // data.test_split fell back to the other of val/test: said where the run says its data.
    if (r.test_folder.find("; using '") != std::string::npos) r.storage_reason += "; test split " + r.test_folder;
    const auto lo = loader_options(c);
    if (!r.streamed) {
      if (load_train) train = data::decode_all(train, r.spec, lo);
      test = data::decode_all(test, r.spec, lo);
    }
    r.train = std::move(train);
    r.test = std::move(test);
  }
  if (load_train && c.data.val_fraction > 0) {
    const auto parts = data::stratified_split_indices(r.train.labels, c.data.val_fraction, c.seed ^ kValSeed);
    WRN_CHECK(parts.held_out.numel() > 0, "config: 'data.val_fraction' {} holds out no image of the {} training images",
              c.data.val_fraction, r.train.size());
    r.val = r.train.subset(as_vector(parts.held_out));
    r.val.name += " (validation)";
    r.train = r.train.subset(as_vector(parts.train));
  }
  return r;
}

}  // namespace wrn::train
