#include "wrn/data/split_data.h"

#include "wrn/core/error.h"
#include "wrn/data/transforms.h"

namespace wrn::data {

namespace {

// A stored row [C, H, W] as a decoded image (HWC), for the per-sample transforms.
DecodedImage as_decoded(const torch::Tensor& chw) {
  DecodedImage d;
  d.channels = chw.size(0);
  d.height = chw.size(1);
  d.width = chw.size(2);
  auto hwc = chw.permute({1, 2, 0}).contiguous();
  d.pixels.assign(hwc.data_ptr<uint8_t>(), hwc.data_ptr<uint8_t>() + hwc.numel());
  return d;
}

}  // namespace

torch::Tensor SplitData::eval_sample(int64_t index, const Preprocessing& spec) const {
  WRN_CHECK(index >= 0 && index < size(), "{}: sample {} out of range [0, {})", name, index, size());
  if (!streamed()) return memory.images[index].clone();
  return load_eval_sample(files.paths[static_cast<size_t>(index)], spec);
}

torch::Tensor SplitData::train_sample(int64_t index, int64_t epoch, uint64_t seed, const Preprocessing& spec) const {
  WRN_CHECK(index >= 0 && index < size(), "{}: sample {} out of range [0, {})", name, index, size());
  if (spec.train != TrainTransform::RandomResizedCrop) return eval_sample(index, spec);
  auto gen = sample_generator(seed, epoch, index);
  if (!streamed()) return train_transform(as_decoded(memory.images[index]), spec, gen);
  return load_train_sample(files.paths[static_cast<size_t>(index)], spec, gen);
}

std::unique_ptr<BatchLoader> SplitData::eval_loader(const Preprocessing& spec, const LoaderOptions& options,
                                                    int64_t batch_size) const {
  auto loader = std::make_unique<BatchLoader>([this, spec](int64_t index, int64_t) { return eval_sample(index, spec); },
                                              std::vector<int64_t>{spec.channels, spec.height, spec.width}, options);
  std::vector<int64_t> order(static_cast<size_t>(size()));
  for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
  loader->start(0, std::move(order), batch_size);
  return loader;
}

SplitData SplitData::subset(const std::vector<int64_t>& indices) const {
  SplitData out;
  out.name = name;
  out.class_names = class_names;
  out.skipped = skipped;
  auto idx = torch::tensor(indices, torch::kInt64);
  out.labels = labels.index_select(0, idx);
  if (!streamed()) out.memory = memory.subset(idx);
  out.files.name = files.name;
  out.files.class_names = files.class_names;
  if (!files.paths.empty()) {
    for (int64_t i : indices) {
      WRN_CHECK(i >= 0 && i < size(), "{}: subset index {} out of range [0, {})", name, i, size());
      out.files.paths.push_back(files.paths[static_cast<size_t>(i)]);
      out.files.labels.push_back(files.labels[static_cast<size_t>(i)]);
    }
  }
  return out;
}

SplitData in_memory(Dataset set) {
  SplitData s;
  s.name = set.name;
  s.class_names = set.class_names;
  s.labels = set.labels.cpu();
  s.memory = std::move(set);
  return s;
}

SplitData streamed(ImageList list) {
  SplitData s;
  s.name = list.name;
  s.class_names = list.class_names;
  s.labels = torch::tensor(list.labels, torch::kInt64);
  s.files = std::move(list);
  return s;
}

SplitData decode_all(const SplitData& split, const Preprocessing& spec, const LoaderOptions& loader_options) {
  if (!split.streamed()) return split;
  const int64_t n = split.size();
  auto loader = split.eval_loader(spec, loader_options, /*batch_size=*/256);
  std::vector<torch::Tensor> images;
  std::vector<int64_t> kept;
  std::vector<std::pair<std::string, std::string>> skipped = split.skipped;
  while (loader->has_next()) {
    auto b = loader->next();
    images.push_back(b.images);
    auto idx = b.indices.contiguous();
    kept.insert(kept.end(), idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + idx.numel());
    for (const auto& [i, message] : b.skipped) skipped.emplace_back(split.files.paths[static_cast<size_t>(i)], message);
  }
  WRN_CHECK_FILE(!kept.empty(), "{}: none of the {} images could be read", split.name, n);
  SplitData out = split.subset(kept);  // keeps the file of each row (eval --predictions names it)
  out.memory.name = split.name;
  out.memory.class_names = split.class_names;
  out.memory.images = torch::cat(images);
  out.memory.labels = out.labels;
  out.skipped = std::move(skipped);
  return out;
}

}  // namespace wrn::data
