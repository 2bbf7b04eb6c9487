#include "wrn/infer/onnx_export.h"

#include <torch/types.h>

#include <cstring>
#include <limits>
#include <set>
#include <vector>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/infer/graph_lowering.h"
#include "wrn/infer/inference_graph.h"

#ifdef WRN_WITH_ONNX
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#endif

namespace wrn::infer {

#ifdef WRN_WITH_ONNX

namespace {

using graph::Node;

constexpr int64_t kMinOpset = 13;
constexpr int64_t kMaxOpset = 17;  // onnx 1.12 (Debian bookworm); Pad takes `axes` from 18

// The backend of graph_lowering.h: appends ONNX nodes and initializers to a graph.
class GraphWriter {
 public:
  using Value = std::string;

  explicit GraphWriter(onnx::GraphProto& graph) : graph_(graph) {}

  // A value or initializer name not used before: `hint`, else hint_1, hint_2, ...
  std::string fresh(const std::string& hint) {
    std::string name = hint;
    for (int i = 1; !used_.insert(name).second; ++i) name = hint + "_" + std::to_string(i);
    return name;
  }

  onnx::NodeProto& op(const std::string& type, const std::vector<std::string>& inputs,
                      const std::string& output, const std::string& name) {
    auto* n = graph_.add_node();
    n->set_op_type(type);
    n->set_name(name.empty() ? output : name);
    for (const auto& i : inputs) n->add_input(i);
    n->add_output(output);
    return *n;
  }

  Value shared(const Value& x) const { return x; }

  Value conv(const Node& n, const Value& x) {
    const std::string base = n.name.empty() ? "conv" : n.name;
    std::vector<std::string> inputs = {x, tensor(base + ".weight", n.weight)};
    if (n.bias.defined()) inputs.push_back(tensor(base + ".bias", n.bias));
    const std::string y = fresh(base);
    auto& c = op("Conv", inputs, y, y);
    ints(c, "kernel_shape", n.kernel);
    ints(c, "strides", n.stride);
    ints(c, "pads", {n.padding[0], n.padding[1], n.padding[0], n.padding[1]});
    ints(c, "dilations", n.dilation);
    integer(c, "group", n.groups);
    return n.relu ? unary("Relu", y, base + ".relu") : y;
  }

  // An evaluation BatchNorm (one that follows an addition). BatchNormalization rather than
  // Mul + Add with [1, C, 1, 1] initializers: OpenCV 4.6 cannot import a Mul by a 4-D constant.
  Value affine(const Node& n, const Value& x) {
    const std::string base = n.name.empty() ? "bn" : n.name;
    const std::string y = fresh(base);
    auto& bn = op("BatchNormalization",
                  {x, tensor(base + ".weight", n.weight), tensor(base + ".bias", n.bias),
                   tensor(base + ".running_mean", n.mean), tensor(base + ".running_var", n.var)},
                  y, y);
    real(bn, "epsilon", n.eps);
    return n.relu ? relu(y) : y;
  }

  Value relu(const Value& x) { return unary("Relu", x, x + ".relu"); }

  Value max_pool(const Node& n, const Value& x) {
    const std::string y = fresh("maxpool");
    auto& p = op("MaxPool", {x}, y, y);
    ints(p, "kernel_shape", n.kernel);
    ints(p, "strides", n.stride);
    ints(p, "pads", {n.padding[0], n.padding[1], n.padding[0], n.padding[1]});
    return y;
  }

  Value head(const Node& n, const Value& x) {
    const std::string pooled = fresh("avgpool");
    op("GlobalAveragePool", {x}, pooled, pooled);
    const std::string flat = fresh("flatten");
    integer(op("Flatten", {pooled}, flat, flat), "axis", 1);
    std::vector<std::string> inputs = {flat, tensor(n.name + ".weight", n.weight)};
    if (n.bias.defined()) inputs.push_back(tensor(n.name + ".bias", n.bias));
    const std::string y = fresh(n.name);
    integer(op("Gemm", inputs, y, y), "transB", 1);
    return y;
  }

  // models::zero_pad_shortcut: x[:, :, ::stride, ::stride], zero channels appended.
  Value zero_pad(const Value& x, int64_t stride, int64_t extra, const std::string& base) {
    std::string s = x;
    if (stride != 1) {
      constexpr int64_t kEnd = std::numeric_limits<int64_t>::max();
      s = fresh(base + ".subsample");
      op("Slice",
         {x, ints_tensor(base + ".starts", {0, 0}), ints_tensor(base + ".ends", {kEnd, kEnd}),
          ints_tensor(base + ".axes", {2, 3}), ints_tensor(base + ".steps", {stride, stride})},
         s, s);
    }
    if (extra <= 0) return s;
    const std::string y = fresh(base + ".pad");
    // pads: begins of N, C, H, W, then ends.
    op("Pad", {s, ints_tensor(base + ".pads", {0, 0, 0, 0, 0, extra, 0, 0})}, y, y);
    return y;
  }

  Value add(const Value& a, const Value& b, const std::string& hint) { return binary("Add", a, b, hint); }
  Value mul(const Value& a, const Value& b, const std::string& hint) { return binary("Mul", a, b, hint); }
  Value scale(const Value& x, double factor, const std::string& hint) {
    return binary("Mul", x, scalar(hint + ".factor", factor), hint);
  }
  Value sigmoid(const Value& x, const std::string& hint) { return unary("Sigmoid", x, hint); }
  Value one_minus(const Value& x, const std::string& hint) {
    return binary("Sub", scalar(hint + ".one", 1.0), x, hint);
  }

 private:
  std::string unary(const std::string& type, const std::string& x, const std::string& hint) {
    const std::string y = fresh(hint);
    op(type, {x}, y, y);
    return y;
  }

  std::string binary(const std::string& type, const std::string& a, const std::string& b,
                     const std::string& hint) {
    const std::string y = fresh(hint);
    op(type, {a, b}, y, y);
    return y;
  }

  // A float initializer (CPU float copy of `t`, raw little-endian data).
  std::string tensor(const std::string& hint, const torch::Tensor& t) {
    const auto data = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
    const std::string name = fresh(hint);
    auto* init = graph_.add_initializer();
    init->set_name(name);
    init->set_data_type(onnx::TensorProto::FLOAT);
    for (auto d : data.sizes()) init->add_dims(d);
    init->set_raw_data(std::string(static_cast<const char*>(data.data_ptr()), data.nbytes()));
    return name;
  }

  std::string scalar(const std::string& hint, double value) {
    return tensor(hint, torch::full({1}, value, torch::kFloat));
  }

  std::string ints_tensor(const std::string& hint, const std::vector<int64_t>& values) {
    const std::string name = fresh(hint);
    auto* init = graph_.add_initializer();
    init->set_name(name);
    init->set_data_type(onnx::TensorProto::INT64);
    init->add_dims(static_cast<int64_t>(values.size()));
    for (auto v : values) init->add_int64_data(v);
    return name;
  }

  static void ints(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& values) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (auto v : values) a->add_ints(v);
  }

  static void integer(onnx::NodeProto& n, const std::string& name, int64_t value) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(value);
  }

  static void real(onnx::NodeProto& n, const std::string& name, double value) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(static_cast<float>(value));
  }

  onnx::GraphProto& graph_;
  std::set<std::string> used_;
};

void set_tensor_type(onnx::ValueInfoProto& v, const std::string& name, const std::vector<int64_t>& dims) {
  v.set_name(name);
  auto* type = v.mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = type->mutable_shape();
  shape->add_dim()->set_dim_param("batch");
  for (auto d : dims) shape->add_dim()->set_dim_value(d);
}

}  // namespace

bool onnx_export_available() { return true; }

std::string encode_onnx(const models::Classifier& model, const models::InputShape& input,
                        const OnnxExportOptions& options) {
  WRN_CHECK(options.opset >= kMinOpset && options.opset <= kMaxOpset,
            "onnx export: opset must be between {} and {}, got {}", kMinOpset, kMaxOpset, options.opset);
  const InferenceGraph g = build_inference_graph(model, options.fold_batchnorm);
  WRN_CHECK(input.channels == g.in_channels,
            "onnx export: the model takes {} input channels, the input is {}", g.in_channels, input.str());
  WRN_CHECK(input.height > 0 && input.width > 0, "onnx export: bad input shape {}", input.str());

  onnx::ModelProto proto;
  proto.set_ir_version(onnx::IR_VERSION);
  proto.set_producer_name("wrn");
  if (!options.producer_version.empty()) proto.set_producer_version(options.producer_version);
  auto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(options.opset);
  // Key/value pairs (ModelProto field 14, StringStringEntryProto): onnx.load(f).metadata_props
  // in Python, Ort::ModelMetadata in ONNX Runtime.
  const auto add_meta = [&proto](const std::string& key, const std::string& value) {
    auto* meta = proto.add_metadata_props();
    meta->set_key(key);
    meta->set_value(value);
  };
  add_meta("wrn.family", model->family());
  if (!options.metadata.count("wrn.input")) add_meta("wrn.input", input.str());
  for (const auto& [key, value] : options.metadata) {
    if (key != "wrn.family") add_meta(key, value);
  }

  auto& graph = *proto.mutable_graph();
  graph.set_name(model->family());
  set_tensor_type(*graph.add_input(), "input", {input.channels, input.height, input.width});
  set_tensor_type(*graph.add_output(), "logits", {g.num_classes});
  GraphWriter writer(graph);
  writer.fresh("input");
  writer.fresh("logits");
  const std::string result = lowering::lower(g.body, std::string("input"), writer);
  WRN_CHECK(graph.node_size() > 0 && graph.node(graph.node_size() - 1).output(0) == result,
            "onnx export: the network does not end in an op");
  graph.mutable_node(graph.node_size() - 1)->set_output(0, "logits");

  // Structure (checker) and shapes (strict inference on a copy, merged with the declared
  // output shape): a broken export fails here, not in the user's runtime.
  try {
    onnx::checker::check_model(proto);
    onnx::ModelProto inferred = proto;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict=*/1));
  } catch (const std::exception& e) {
    throw ConfigError(fmt::format("onnx export: the generated model is invalid: {}", one_line_message(e)));
  }
  std::string bytes;
  WRN_CHECK(proto.SerializeToString(&bytes), "onnx export: the model could not be serialized");
  return bytes;
}

std::map<std::string, std::string> read_onnx_metadata(const std::string& path) {
  onnx::ModelProto proto;
  WRN_CHECK_FILE(proto.ParseFromString(read_file(path)) && proto.has_graph(), "{}: not an ONNX model", path);
  std::map<std::string, std::string> out;
  for (const auto& kv : proto.metadata_props()) out[kv.key()] = kv.value();
  return out;
}

#else  // !WRN_WITH_ONNX

bool onnx_export_available() { return false; }

std::map<std::string, std::string> read_onnx_metadata(const std::string&) {
  throw ConfigError("onnx: wrn was built without ONNX (WRN_WITH_ONNX=OFF)");
}

std::string encode_onnx(const models::Classifier&, const models::InputShape&, const OnnxExportOptions&) {
  throw ConfigError("onnx export: wrn was built without ONNX (WRN_WITH_ONNX=OFF)");
}

#endif

void export_onnx(const models::Classifier& model, const models::InputShape& input, const std::string& path,
                 const OnnxExportOptions& options) {
  write_file_atomically(path, encode_onnx(model, input, options));
}

}  // namespace wrn::infer
