#include "wrn/io/state_dict.h"

#include <fmt/format.h>
#include <torch/nn/module.h>

#include <map>
#include <sstream>
#include <unordered_map>

#include "wrn/core/error.h"

namespace wrn::io {
namespace {

// Pre-order walk in registration order: own parameters, own buffers, then the children.
void collect(const torch::nn::Module& module, const std::string& prefix, StateDict& out) {
  for (const auto& p : module.named_parameters(/*recurse=*/false)) {
    if (p.value().defined()) out.push_back({prefix + p.key(), p.value()});
  }
  for (const auto& b : module.named_buffers(/*recurse=*/false)) {
    if (b.value().defined()) out.push_back({prefix + b.key(), b.value()});
  }
  for (const auto& child : module.named_children()) collect(*child.value(), prefix + child.key() + ".", out);
}

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

bool skipped(const std::string& name, const LoadOptions& options) {
  for (const auto& p : options.skip_prefixes) {
    if (name.compare(0, p.size(), p) == 0) return true;
  }
  return false;
}

}  // namespace

StateDict state_dict(const torch::nn::Module& module) {
  StateDict raw;
  collect(module, "", raw);
  StateDict out;
  out.reserve(raw.size());
  for (auto& t : raw) out.push_back({t.name, t.value.detach().to(torch::kCPU).contiguous()});
  return out;
}

std::string StateDictMismatch::summary() const {
  std::vector<std::string> parts;
  if (!missing.empty()) parts.push_back(fmt::format("{} missing", missing.size()));
  if (!unexpected.empty()) parts.push_back(fmt::format("{} unexpected", unexpected.size()));
  if (!wrong_shape.empty()) parts.push_back(fmt::format("{} with the wrong shape", wrong_shape.size()));
  if (parts.empty()) return "all tensors match";
  std::string s = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) s += ", " + parts[i];
  return s;
}

std::vector<std::string> StateDictMismatch::details() const {
  std::vector<std::string> out;
  for (const auto& n : missing) out.push_back("missing: " + n);
  for (const auto& n : unexpected) out.push_back("unexpected: " + n);
  for (const auto& n : wrong_shape) out.push_back("wrong shape: " + n);
  return out;
}

StateDictMismatch compare_state_dict(const torch::nn::Module& module, const StateDict& tensors,
                                     const LoadOptions& options) {
  StateDict own;
  collect(module, "", own);
  std::unordered_map<std::string, const torch::Tensor*> file;
  StateDictMismatch m;
  for (const auto& t : tensors) {
    if (skipped(t.name, options)) continue;
    if (!file.emplace(t.name, &t.value).second) m.unexpected.push_back(t.name + " (listed twice)");
  }
  std::unordered_map<std::string, bool> seen;
  for (const auto& t : own) {
    if (skipped(t.name, options)) continue;
    seen[t.name] = true;
    auto it = file.find(t.name);
    if (it == file.end()) {
      m.missing.push_back(t.name);
      continue;
    }
    const torch::Tensor& f = *it->second;
    if (!f.sizes().equals(t.value.sizes())) {
      m.wrong_shape.push_back(fmt::format("{}: file {} vs model {}", t.name, shape_str(f), shape_str(t.value)));
    } else if (f.is_floating_point() != t.value.is_floating_point()) {
      m.wrong_shape.push_back(fmt::format("{}: file dtype {} vs model dtype {}", t.name,
                                          c10::toString(f.scalar_type()), c10::toString(t.value.scalar_type())));
    }
  }
  for (const auto& t : tensors) {
    if (!skipped(t.name, options) && !seen.count(t.name) && file.count(t.name)) {
      m.unexpected.push_back(t.name);
    }
  }
  return m;
}

void load_state_dict(torch::nn::Module& module, const StateDict& tensors, const std::string& source,
                     const LoadOptions& options) {
  auto mismatch = compare_state_dict(module, tensors, options);
  if (!mismatch.empty()) {
    std::string msg = fmt::format("{}: the state dict does not fit the model: {}", source, mismatch.summary());
    for (const auto& d : mismatch.details()) msg += "\n  " + d;
    throw FileError(msg);
  }
  std::unordered_map<std::string, const torch::Tensor*> file;
  for (const auto& t : tensors) file.emplace(t.name, &t.value);
  StateDict own;
  collect(module, "", own);
  torch::NoGradGuard no_grad;
  for (auto& t : own) {
    if (skipped(t.name, options)) continue;
    t.value.copy_(*file.at(t.name));
  }
}

const torch::Tensor& find_tensor(const StateDict& tensors, const std::string& key, const std::string& what) {
  for (const auto& t : tensors) {
    if (t.name == key) return t.value;
  }
  throw FileError(fmt::format("{}: missing tensor '{}'", what, key));
}

bool load_weights(models::ClassifierImpl& model, const StateDict& tensors, const std::string& source,
                  FineTune fine_tune) {
  bool new_classifier = false;
  if (fine_tune == FineTune::WhenClassesDiffer) {
    const std::string fc_weight = std::string(classifier_prefix()) + "weight";
    const auto params = model.named_parameters();
    const auto* own = params.find(fc_weight);
    for (const auto& t : tensors) {
      if (t.name == fc_weight && own != nullptr && !own->sizes().equals(t.value.sizes())) new_classifier = true;
    }
  }
  LoadOptions options;
  if (new_classifier) options.skip_prefixes.push_back(classifier_prefix());
  load_state_dict(model, tensors, source, options);
  return new_classifier;
}

}  // namespace wrn::io
