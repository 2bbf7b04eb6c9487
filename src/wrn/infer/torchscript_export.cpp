#include "wrn/infer/torchscript_export.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/types.h>

#include <cctype>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <vector>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/infer/inference_graph.h"

namespace wrn::infer {

namespace {

using graph::Node;
using graph::Residual;
using graph::Seq;

// A Python float literal that reads back to the same double.
std::string float_literal(double v) {
  std::string s = fmt::format("{:.17g}", v);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string int_list(const std::vector<int64_t>& v) { return fmt::format("[{}]", fmt::join(v, ", ")); }

// Writes the body of `forward` (one statement a line, SSA names v0, v1, ...) and registers
// the weights it reads on `module`.
class SourceWriter {
 public:
  explicit SourceWriter(torch::jit::Module& module) : module_(module) {}

  std::string seq(const Seq& nodes, std::string x) {
    for (const auto& n : nodes) x = node(n, x);
    return x;
  }

  const std::string& code() const { return code_; }

 private:
  std::string node(const Node& n, const std::string& x) {
    switch (n.kind) {
      case Node::Kind::Conv: {
        const std::string base = n.name.empty() ? "conv" : n.name;
        std::string y =
            let(fmt::format("torch.conv2d({}, {}, {}, {}, {}, {}, {})", x, param(base + ".weight", n.weight),
                            n.bias.defined() ? param(base + ".bias", n.bias) : "None", int_list(n.stride),
                            int_list(n.padding), int_list(n.dilation), n.groups));
        return n.relu ? let(fmt::format("torch.relu({})", y)) : y;
      }
      case Node::Kind::Affine: {
        const std::string base = n.name.empty() ? "bn" : n.name;
        return let(fmt::format("torch.batch_norm({}, {}, {}, {}, {}, False, 0.0, {}, False)", x,
                               param(base + ".weight", n.weight), param(base + ".bias", n.bias),
                               param(base + ".running_mean", n.mean), param(base + ".running_var", n.var),
                               float_literal(n.eps)));
      }
      case Node::Kind::Relu:
        return let(fmt::format("torch.relu({})", x));
      case Node::Kind::MaxPool:
        return let(fmt::format("torch.max_pool2d({}, [3, 3], [2, 2], [1, 1])", x));
      case Node::Kind::Residual:
        return residual(*n.residual, x);
      case Node::Kind::Head: {
        const std::string pooled =
            let(fmt::format("torch.flatten(torch.adaptive_avg_pool2d({}, [1, 1]), 1)", x));
        return let(fmt::format("torch.linear({}, {}, {})", pooled, param(n.name + ".weight", n.weight),
                               n.bias.defined() ? param(n.name + ".bias", n.bias) : "None"));
      }
    }
    throw ConfigError("torchscript export: unknown op in the inference graph");
  }

  // The same arithmetic as FusedClassifier's run_residual.
  std::string residual(const Residual& r, const std::string& x) {
    const std::string a = r.pre.empty() ? x : seq(r.pre, x);
    const std::string f = seq(r.branch, a);
    const std::string& src = r.shortcut_from_pre ? a : x;
    std::string s = src;
    switch (r.shortcut) {
      case Residual::Shortcut::Identity:
        break;
      case Residual::Shortcut::ZeroPad: {
        // models::zero_pad_shortcut; src also feeds the branch, whose first conv gives its channels.
        if (r.pad_stride != 1) s = let(fmt::format("{}[:, :, ::{}, ::{}]", src, r.pad_stride, r.pad_stride));
        const int64_t extra = r.pad_channels - in_channels_of(r.branch);
        if (extra > 0) s = let(fmt::format("torch.constant_pad_nd({}, [0, 0, 0, 0, 0, {}], 0.0)", s, extra));
        break;
      }
      case Residual::Shortcut::Projection:
        s = seq(r.projection, src);
        break;
    }
    std::string y;
    switch (r.combine) {
      case Residual::Combine::Add:
        y = let(fmt::format("{} + {}", f, s));
        break;
      case Residual::Combine::Scaled:
        y = let(fmt::format("{} * {} + {} * {}", f, float_literal(r.branch_scale), s,
                            float_literal(r.shortcut_scale)));
        break;
      case Residual::Combine::ExclusiveGate:
      case Residual::Combine::ShortcutOnlyGate: {
        const std::string g = let(fmt::format("torch.sigmoid({})", seq(r.gate, x)));
        y = r.combine == Residual::Combine::ExclusiveGate
                ? let(fmt::format("{0} * {1} + (1 - {0}) * {2}", g, f, s))
                : let(fmt::format("{1} + (1 - {0}) * {2}", g, f, s));
        break;
      }
    }
    return seq(r.post, y);
  }

  static int64_t in_channels_of(const Seq& branch) {
    for (const auto& n : branch) {
      if (n.kind == Node::Kind::Conv) return n.weight.size(1) * n.groups;
    }
    throw ConfigError("torchscript export: a zero-padding shortcut beside a branch without convolutions");
  }

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

std::string encode_torchscript(const models::Classifier& model, const models::InputShape& input) {
  const InferenceGraph g = build_inference_graph(model, /*fold_batchnorm=*/true);
  WRN_CHECK(input.channels == g.in_channels,
            "torchscript export: the model takes {} input channels, the input is {}", g.in_channels,
            input.str());
  torch::jit::Module module(c10::QualifiedName("__torch__.wrn.ExportedClassifier"));
  // A bare Module has no `training` flag (is_training() would default to true; Python's
  // .training would fail): an nn.Module in eval mode has it false.
  module.register_attribute("training", c10::BoolType::get(), false);
  SourceWriter writer(module);
  const std::string result = writer.seq(g.body, "input");
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
  std::ostringstream out;
  module.save(out, {{"wrn.json", meta.dump()}});
  return out.str();
}

void export_torchscript(const models::Classifier& model, const models::InputShape& input,
                        const std::string& path) {
  write_file_atomically(path, encode_torchscript(model, input));
}

}  // namespace wrn::infer
