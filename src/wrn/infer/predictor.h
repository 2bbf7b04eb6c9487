// Prediction on image files with a trained classifier: decode, evaluation transform,
// optimized forward (FusedClassifier), softmax, top-k with class names.
//
// Independent of checkpoints: built from a Classifier plus its input shape, normalization
// and class names (the tool reads those from a checkpoint).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wrn/infer/fused_model.h"
#include "wrn/infer/preprocess.h"
#include "wrn/models/network.h"

namespace wrn::infer {

struct PredictorOptions {
  Preprocess preprocess;                 // the model's preprocessing spec and normalization
  std::vector<std::string> class_names;  // empty: classes are named by their index
  bool optimized = true;                 // FusedClassifier (false: plain eval-mode forward)
  FuseOptions fuse;                      // fuse.dtype: the precision of both paths (bf16 casts the model)
  bool tta_flip = false;                 // average each image's probabilities with its mirror's (eval --tta)
};

// One class and its probability.
struct ClassScore {
  int64_t index = 0;
  std::string name;
  double probability = 0;
};

// The result for one image; `error` is set (and `top` empty) when the file could not be read.
struct Prediction {
  std::string file;
  std::vector<ClassScore> top;  // most probable first
  std::optional<std::string> error;
};

// Contract: requires a trained classifier whose input matches options.preprocess.input() and,
// when class_names is non-empty, exactly num_classes() names (else ConfigError). The model is
// put in eval mode. predict_* never throw for a bad image file: the file's Prediction
// carries a one-line error naming it (FileError message); they throw for a bad top_k/batch.
class Predictor {
 public:
  Predictor(models::Classifier model, PredictorOptions options);

  // Logits [N, classes] for a float batch already transformed (for tests and benchmarks).
  torch::Tensor logits(const torch::Tensor& batch) const;

  // Class probabilities [N, classes] for a transformed batch: softmax of the logits, or with
  // tta_flip the mean of the image's and its horizontal mirror's softmax.
  torch::Tensor probabilities(const torch::Tensor& batch) const;

  // Top `top_k` (clamped to the class count) for each image of `files`, in order, run in
  // batches of `batch` images.
  std::vector<Prediction> predict_files(const std::vector<std::string>& files, int64_t top_k = 5,
                                        int64_t batch = 32) const;

  const PredictorOptions& options() const { return options_; }
  std::string class_name(int64_t index) const;

 private:
  models::Classifier model_;
  PredictorOptions options_;
  std::optional<FusedClassifier> fused_;
};

// The image files named by `inputs`: files as given; directories walked recursively, files
// with a .png/.jpg/.jpeg extension (any case), sorted by path. Throws FileError naming an
// input that does not exist.
std::vector<std::string> collect_image_files(const std::vector<std::string>& inputs);

// Class names from a text file, one per line (trimmed, blank lines ignored: data::read_name_lines). Throws
// FileError naming the file when it cannot be read or is empty.
std::vector<std::string> read_labels(const std::string& path);

}  // namespace wrn::infer
