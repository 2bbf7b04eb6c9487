// Any weights file wrn reads (wrn import, train --init-from, the library's users): a wrn
// checkpoint, a PyTorch state_dict (.pt/.pth, torch.save) or a safetensors file, told apart
// by their first bytes rather than by the extension. The one place that knows the formats.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "wrn/io/state_dict.h"

namespace wrn::io {

enum class WeightsFormat { Checkpoint, Pt, Safetensors };
// "checkpoint" | "pt" | "safetensors"
const char* format_name(WeightsFormat format);

struct WeightsFile {
  WeightsFormat format = WeightsFormat::Checkpoint;
  StateDict tensors;                            // in the file's order
  std::map<std::string, std::string> metadata;  // safetensors "__metadata__" (wrn.model, wrn.mean, ...)
  std::vector<torch::Tensor> normalizer;        // a checkpoint's normalizer state
  std::string config_yaml;                      // a checkpoint's run configuration
};

// The format from the file's first bytes. Throws FileError naming `path` when it cannot be
// opened or is none of the three.
WeightsFormat detect_weights_format(const std::string& path);

// Throws FileError naming `path` when it is missing, of another format, or corrupt.
WeightsFile read_weights_file(const std::string& path);

}  // namespace wrn::io
