#include "wrn/io/weights_file.h"

#include <filesystem>
#include <fstream>

#include "wrn/core/error.h"
#include "wrn/io/checkpoint.h"
#include "wrn/io/pt_format.h"
#include "wrn/io/safetensors.h"

namespace fs = std::filesystem;

namespace wrn::io {

const char* format_name(WeightsFormat format) {
  switch (format) {
    case WeightsFormat::Checkpoint:
      return "checkpoint";
    case WeightsFormat::Pt:
      return "pt";
    case WeightsFormat::Safetensors:
      return "safetensors";
  }
  return "?";
}

WeightsFormat detect_weights_format(const std::string& path) {
  // Before opening: a FIFO would block open() until a writer comes (--init-from, --from).
  std::error_code ec;
  WRN_CHECK_T(FileError, !fs::exists(path, ec) || fs::is_regular_file(path, ec),
              "{}: not a regular file (a FIFO, device or socket), expected a weights file", path);
  std::ifstream in(path, std::ios::binary);
  WRN_CHECK_T(FileError, bool(in), "{}: cannot open (does it exist?)", path);
  std::string head(9, '\0');
  in.read(head.data(), std::streamsize(head.size()));
  head.resize(size_t(in.gcount()));
  if (head.rfind(std::string(kCheckpointMagic, sizeof(kCheckpointMagic)), 0) == 0) return WeightsFormat::Checkpoint;
  if (head.rfind("PK\x03\x04", 0) == 0) return WeightsFormat::Pt;  // torch.save's zip archive
  if (head.size() >= 9 && head[8] == '{') return WeightsFormat::Safetensors;  // u64 header size, then JSON
  throw FileError(fmt::format(
      "{}: not a weights file: expected a wrn checkpoint, a PyTorch state_dict (.pt, torch.save zip) "
      "or a .safetensors file",
      path));
}

WeightsFile read_weights_file(const std::string& path) {
  WeightsFile out;
  out.format = detect_weights_format(path);
  switch (out.format) {
    case WeightsFormat::Checkpoint: {
      auto ck = load_checkpoint(path);
      out.tensors = ck.ema.empty() ? std::move(ck.model) : std::move(ck.ema);  // inference_weights()
      out.normalizer = std::move(ck.normalizer);
      out.config_yaml = std::move(ck.config_yaml);
      break;
    }
    case WeightsFormat::Pt:
      out.tensors = load_pt(path);
      break;
    case WeightsFormat::Safetensors: {
      auto st = load_safetensors(path);
      out.tensors = std::move(st.tensors);
      out.metadata = std::move(st.metadata);
      break;
    }
  }
  return out;
}

}  // namespace wrn::io
