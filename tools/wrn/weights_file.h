// Weight files the tool reads (wrn import, wrn train --init-from): a wrn checkpoint, a
// PyTorch state_dict (.pt/.pth, torch.save) or a safetensors file, told apart by their
// first bytes rather than by the extension.
#pragma once

#include <map>
#include <string>

#include "wrn/infer/state_dict.h"

namespace wrn::cli {

struct WeightsFile {
  std::string format;                          // "checkpoint" | "pt" | "safetensors"
  infer::StateDict tensors;                    // in the file's order
  std::map<std::string, std::string> metadata; // safetensors "__metadata__" (wrn.model, wrn.mean, ...)
  std::vector<torch::Tensor> normalizer;       // a checkpoint's normalizer state
};

// Throws FileError naming `path` when it is missing, of another format, or corrupt.
WeightsFile read_weights_file(const std::string& path);

// Loads `file` into `model`, checking every name and shape. When the file's classifier has
// another shape than the model's (another number of classes), the classifier is neither
// compared nor loaded and keeps its fresh initialization: fine-tuning. Returns true then.
bool load_weights_or_fine_tune(models::ClassifierImpl& model, const WeightsFile& file, const std::string& path);

}  // namespace wrn::cli
