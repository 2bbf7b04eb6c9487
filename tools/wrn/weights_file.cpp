#include "weights_file.h"

#include <fstream>

#include "wrn/core/error.h"
#include "wrn/infer/pt_format.h"
#include "wrn/infer/safetensors.h"
#include "wrn/train/checkpoint.h"

namespace wrn::cli {

namespace {

std::string first_bytes(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  WRN_CHECK_T(FileError, bool(in), "{}: cannot open (does it exist?)", path);
  std::string head(n, '\0');
  in.read(head.data(), std::streamsize(n));
  head.resize(size_t(in.gcount()));
  return head;
}

}  // namespace

WeightsFile read_weights_file(const std::string& path) {
  const auto head = first_bytes(path, 9);
  WeightsFile out;
  if (head.rfind(std::string("WRNCKPT\0", 8), 0) == 0) {
    auto ck = train::load_checkpoint(path);
    out.format = "checkpoint";
    for (auto& [name, t] : ck.model) out.tensors.push_back({name, t});
    out.normalizer = ck.normalizer;
  } else if (head.rfind("PK\x03\x04", 0) == 0) {  // torch.save's zip archive
    out.format = "pt";
    out.tensors = infer::load_pt(path);
  } else if (head.size() >= 9 && head[8] == '{') {  // safetensors: u64 header size, then JSON
    auto st = infer::load_safetensors(path);
    out.format = "safetensors";
    out.tensors = std::move(st.tensors);
    out.metadata = std::move(st.metadata);
  } else {
    throw FileError(fmt::format(
        "{}: not a weights file: expected a wrn checkpoint, a PyTorch state_dict (.pt, torch.save zip) "
        "or a .safetensors file",
        path));
  }
  return out;
}

bool load_weights_or_fine_tune(models::ClassifierImpl& model, const WeightsFile& file, const std::string& path) {
  const std::string fc_weight = std::string(infer::classifier_prefix()) + "weight";
  const auto params = model.named_parameters();
  const auto* own = params.find(fc_weight);
  bool fine_tune = false;
  for (const auto& t : file.tensors) {
    if (t.name == fc_weight && own != nullptr && own->sizes() != t.value.sizes()) fine_tune = true;
  }
  infer::LoadOptions options;
  if (fine_tune) options.skip_prefixes.push_back(infer::classifier_prefix());
  infer::load_state_dict(model, file.tensors, path, options);
  return fine_tune;
}

}  // namespace wrn::cli
