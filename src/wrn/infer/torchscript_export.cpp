#include "wrn/infer/torchscript_export.h"

#include <fmt/ranges.h>  // fmt::join (in ranges.h since fmt 11, which a LibTorch 2.x bundles)
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/types.h>

#include <cctype>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <vector>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/infer/graph_lowering.h"
#include "wrn/infer/inference_graph.h"

namespace wrn::infer {

namespace {

using graph::Node;

// A Python float literal that reads back to the same double.
std::string float_literal(double v) {
  std::string s = fmt::format("{:.17g}", v);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string int_list(const std::vector<int64_t>& v) { return fmt::format("[{}]", fmt::join(v, ", ")); }

// The backend of graph_lowering.h: writes the body of `forward` (one statement a line, SSA
// names v0, v1, ...) and registers the weights it reads on `module`.
class SourceWriter {
 public:
  using Value = std::string;

  explicit SourceWriter(torch::jit::Module& module) : module_(module) {}

  const std::string& code() const { return code_; }

  Value shared(const Value& x) const { return x; }

  Value conv(const Node& n, const Value& x) {
    const std::string base = n.name.empty() ? "conv" : n.name;
    std::string y =
        let(fmt::format("torch.conv2d({}, {}, {}, {}, {}, {}, {})", x, param(base + ".weight", n.weight),
                        n.bias.defined() ? param(base + ".bias", n.bias) : "None", int_list(n.stride),
                        int_list(n.padding), int_list(n.dilation), n.groups));
    return n.relu ? relu(y) : y;
  }
  Value affine(const Node& n, const Value& x) {
    const std::string base = n.name.empty() ? "bn" : n.name;
    const std::string y = let(fmt::format("torch.batch_norm({}, {}, {}, {}, {}, False, 0.0, {}, False)", x,
                                          param(base + ".weight", n.weight), param(base + ".bias", n.bias),
                                          param(base + ".running_mean", n.mean),
                                          param(base + ".running_var", n.var), float_literal(n.eps)));
    return n.relu ? relu(y) : y;
  }
  Value relu(const Value& x) { return let(fmt::format("torch.relu({})", x)); }
  Value max_pool(const Node& n, const Value& x) {
    return let(fmt::format("torch.max_pool2d({}, {}, {}, {})", x, int_list(n.kernel), int_list(n.stride),
                           int_list(n.padding)));
  }
  Value head(const Node& n, const Value& x) {
    const std::string pooled = let(fmt::format("torch.flatten(torch.adaptive_avg_pool2d({}, [1, 1]), 1)", x));
    return let(fmt::format("torch.linear({}, {}, {})", pooled, param(n.name + ".weight", n.weight),
                           n.bias.defined() ? param(n.name + ".bias", n.bias) : "None"));
  }
  // models::zero_pad_shortcut: x[:, :, ::stride, ::stride], zero channels appended.
  Value zero_pad(const Value& x, int64_t stride, int64_t extra, const std::string&) {
    Value s = x;
    if (stride != 1) s = let(fmt::format("{}[:, :, ::{}, ::{}]", x, stride, stride));
    if (extra > 0) s = let(fmt::format("torch.constant_pad_nd({}, [0, 0, 0, 0, 0, {}], 0.0)", s, extra));
    return s;
  }
  Value add(const Value& a, const Value& b, const std::string&) { return let(fmt::format("{} + {}", a, b)); }
  Value mul(const Value& a, const Value& b, const std::string&) { return let(fmt::format("{} * {}", a, b)); }
  Value scale(const Value& x, double factor, const std::string&) {
    return let(fmt::format("{} * {}", x, float_literal(factor)));
  }
  Value sigmoid(const Value& x, const std::string&) { return let(fmt::format("torch.sigmoid({})", x)); }
  Value one_minus(const Value& x, const std::string&) { return let(fmt::format("1 - {}", x)); }

 private:
  // `v<k> = expression`; returns v<k>.
  std::string let(const std::string& expression) {
    std::string v = "v" + std::to_string(next_++);
    code_ += fmt::format("    {} = {}\n", v, expression);
    return v;
  }

  // Registers a CPU float copy of `t` as a parameter; returns `self.<name>`.
  std::string param(const std::string& state_dict_name, const torch::Tensor& t) {
    std::string name = state_dict_name;
    for (auto& c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) name = "p_" + name;
    std::string unique = name;
    for (int i = 1; !names_.insert(unique).second; ++i) unique = name + "_" + std::to_string(i);
    module_.register_parameter(unique, t.detach().to(torch::kCPU, torch::kFloat).contiguous().clone(),
                               /*is_buffer=*/false);
    return "self." + unique;
  }

  torch::jit::Module& module_;
  std::string code_;
  std::set<std::string> names_;
  int next_ = 0;
};

}  // namespace

std::string encode_torchscript(const models::Classifier& model, const models::InputShape& input,
                               const std::map<std::string, std::string>& metadata) {
  const InferenceGraph g = build_inference_graph(model, /*fold_batchnorm=*/true);
  WRN_CHECK(input.channels == g.in_channels,
            "torchscript export: the model takes {} input channels, the input is {}", g.in_channels,
            input.str());
  torch::jit::Module module(c10::QualifiedName("__torch__.wrn.ExportedClassifier"));
  // A bare Module has no `training` flag (is_training() would default to true; Python's
  // .training would fail): an nn.Module in eval mode has it false.
  module.register_attribute("training", c10::BoolType::get(), false);
  c10::Dict<std::string, std::string> meta_dict;
  for (const auto& [k, v] : metadata) meta_dict.insert(k, v);
  module.register_attribute("wrn_metadata", c10::DictType::create(c10::StringType::get(), c10::StringType::get()),
                            meta_dict);
  SourceWriter writer(module);
  const std::string result = lowering::lower(g.body, std::string("input"), writer);
  const std::string source =
      "def forward(self, input: Tensor) -> Tensor:\n" + writer.code() + "    return " + result + "\n";
  try {
    module.define(source);
  } catch (const std::exception& e) {
    throw ConfigError(
        fmt::format("torchscript export: the generated forward does not compile: {}", one_line_message(e)));
  }
  // One small run: a module that does not run must not be written.
  {
    torch::NoGradGuard no_grad;
    auto logits = module.forward({torch::zeros({1, input.channels, input.height, input.width})}).toTensor();
    WRN_CHECK(logits.dim() == 2 && logits.size(0) == 1 && logits.size(1) == g.num_classes,
              "torchscript export: the exported module returns {} for one {} image", c10::str(logits.sizes()),
              input.str());
  }
  nlohmann::json meta = {
      {"family", model->family()}, {"input", input.str()}, {"classes", g.num_classes}, {"producer", "wrn"}};
  for (const auto& [k, v] : metadata) meta[k] = v;
  std::ostringstream out;
  module.save(out, {{"wrn.json", meta.dump()}});
  return out.str();
}

void export_torchscript(const models::Classifier& model, const models::InputShape& input,
                        const std::string& path, const std::map<std::string, std::string>& metadata) {
  write_file_atomically(path, encode_torchscript(model, input, metadata));
}

std::map<std::string, std::string> read_torchscript_metadata(const std::string& path) {
  torch::jit::ExtraFilesMap extra{{"wrn.json", ""}};
  try {
    torch::jit::load(path, torch::kCPU, extra);
  } catch (const std::exception& e) {
    throw FileError(fmt::format("{}: not a TorchScript archive: {}", path, one_line_message(e)));
  }
  const auto j = nlohmann::json::parse(extra["wrn.json"], nullptr, /*allow_exceptions=*/false);
  WRN_CHECK_FILE(j.is_object(), "{}: a TorchScript archive without wrn's extra/wrn.json", path);
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : j.items()) out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return out;
}

}  // namespace wrn::infer
