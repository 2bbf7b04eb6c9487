#include "wrn/infer/predictor.h"

#include <torch/nn/functional/activation.h>
#include <torch/utils.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "wrn/core/error.h"
#include "wrn/data/image_codec.h"
#include "wrn/data/readers.h"
#include "wrn/models/precision.h"
#include "wrn/models/test_time_flip.h"

namespace wrn::infer {

namespace fs = std::filesystem;

Predictor::Predictor(models::Classifier model, PredictorOptions options)
    : model_(std::move(model)), options_(std::move(options)) {
  WRN_CHECK(model_ != nullptr, "predictor: no model given");
  const auto classes = model_->num_classes();
  WRN_CHECK(options_.class_names.empty() || int64_t(options_.class_names.size()) == classes,
            "predictor: {} class names for a model with {} classes", options_.class_names.size(), classes);
  model_->eval();
  if (options_.optimized) {
    fused_ = FusedClassifier::build(model_, options_.fuse);
  } else {
    models::cast_for_inference(*model_, options_.fuse.dtype);  // the plain path in the same precision
  }
}

std::string Predictor::class_name(int64_t index) const {
  if (index >= 0 && index < int64_t(options_.class_names.size())) return options_.class_names[index];
  return std::to_string(index);
}

torch::Tensor Predictor::logits(const torch::Tensor& batch) const {
  if (fused_) return fused_->forward(batch);
  torch::InferenceMode guard;
  return model_->forward(batch.to(options_.fuse.dtype)).to(torch::kFloat);
}

torch::Tensor Predictor::probabilities(const torch::Tensor& batch) const {
  if (!options_.tta_flip) return torch::softmax(logits(batch), 1);
  return models::flip_averaged_log_probabilities(logits(batch), logits(batch.flip(3))).exp();
}

std::vector<Prediction> Predictor::predict_files(const std::vector<std::string>& files, int64_t top_k,
                                                 int64_t batch) const {
  WRN_CHECK(top_k >= 1, "--top must be at least 1, got {}", top_k);
  WRN_CHECK(batch >= 1, "--batch must be at least 1, got {}", batch);
  const int64_t k = std::min(top_k, model_->num_classes());
  std::vector<Prediction> out(files.size());
  for (size_t start = 0; start < files.size(); start += size_t(batch)) {
    const size_t end = std::min(files.size(), start + size_t(batch));
    std::vector<torch::Tensor> images;
    std::vector<size_t> slots;
    for (size_t i = start; i < end; ++i) {
      out[i].file = files[i];
      try {
        images.push_back(options_.preprocess.load(files[i]));
        slots.push_back(i);
      } catch (const Error& e) {
        out[i].error = one_line_message(e);
      }
    }
    if (images.empty()) continue;
    auto probs = probabilities(options_.preprocess.normalize(torch::stack(images)));
    auto [values, indices] = probs.topk(k, 1);
    values = values.to(torch::kDouble).contiguous();
    indices = indices.contiguous();
    for (size_t j = 0; j < slots.size(); ++j) {
      auto& p = out[slots[j]];
      for (int64_t r = 0; r < k; ++r) {
        const int64_t idx = indices[int64_t(j)][r].item<int64_t>();
        p.top.push_back({idx, class_name(idx), values[int64_t(j)][r].item<double>()});
      }
    }
  }
  return out;
}

std::vector<std::string> collect_image_files(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const auto& input : inputs) {
    std::error_code ec;
    const bool exists = fs::exists(input, ec);
    WRN_CHECK_FILE(exists || !ec || ec == std::errc::no_such_file_or_directory, "{}: {}", input, ec.message());
    WRN_CHECK_FILE(exists, "{}: no such file or directory", input);
    if (!fs::is_directory(input, ec)) {
      files.push_back(input);
      continue;
    }
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(input, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      // An entry whose type cannot be read (a symlink loop, a dangling link) is kept when it is
      // named like an image: reading it then fails with a message naming it, as for any
      // unreadable image, instead of a raw filesystem error ending the whole run.
      std::error_code type_ec;
      const bool regular = it->is_regular_file(type_ec);
      if ((regular || type_ec) && data::is_image_file_name(it->path().string())) found.push_back(it->path().string());
    }
    WRN_CHECK_FILE(!ec, "{}: cannot list the directory ({})", input, ec.message());
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

std::vector<std::string> read_labels(const std::string& path) {
  std::error_code ec;
  WRN_CHECK_FILE(fs::exists(path, ec), "--labels {}: no such file", path);
  WRN_CHECK_FILE(fs::is_regular_file(path, ec),
                 "--labels {}: not a regular file (a directory, device or FIFO), expected one class name per line",
                 path);
  auto names = data::read_name_lines(path);
  WRN_CHECK_FILE(!names.empty(), "{}: the labels file is empty (expected one class name per line)", path);
  return names;
}

}  // namespace wrn::infer
