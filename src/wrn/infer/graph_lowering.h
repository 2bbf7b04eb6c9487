// The one translation of the op tree (models/graph.h) into a backend's primitives, shared by
// FusedClassifier (tensors), the ONNX exporter (graph nodes) and the TorchScript exporter
// (source text): how a residual unit combines its branch and shortcut is written here once.
//
// A Backend provides `Value` (a tensor, a value name, ...) and:
//   Value shared(const Value& x)            x is read by more than one op (no in-place reuse)
//   Value conv(const Node&, Value), affine(const Node&, Value), relu(Value),
//         max_pool(const Node&, Value), head(const Node&, Value)
//   Value zero_pad(Value x, int64_t stride, int64_t extra_channels, const std::string& hint)
//   Value add(Value a, Value b, hint), mul(Value a, Value b, hint), scale(Value, double, hint),
//         sigmoid(Value, hint), one_minus(Value, hint)
// `hint` names the result for backends that name values (the unit's state_dict prefix + role).
#pragma once

#include <string>

#include "wrn/core/error.h"
#include "wrn/models/graph.h"

namespace wrn::infer::lowering {

using models::graph::Node;
using models::graph::Residual;
using models::graph::Seq;

template <class Backend>
typename Backend::Value lower(const Seq& seq, typename Backend::Value x, Backend& b);

template <class Backend>
typename Backend::Value lower_residual(const Node& unit, const typename Backend::Value& x, Backend& b) {
  using Value = typename Backend::Value;
  const Residual& r = *unit.residual;
  const std::string base = unit.name.empty() ? "unit" : unit.name;
  // x (and a) feed both the branch and the shortcut.
  const Value a = r.pre.empty() ? x : lower(r.pre, b.shared(x), b);
  Value f = lower(r.branch, b.shared(a), b);
  const Value& src = r.shortcut_from_pre ? a : x;
  Value s = src;
  switch (r.shortcut) {
    case Residual::Shortcut::Identity:
      break;
    case Residual::Shortcut::ZeroPad:
      s = b.zero_pad(b.shared(src), r.pad_stride, r.pad_extra, base + ".shortcut");
      break;
    case Residual::Shortcut::Projection:
      s = lower(r.projection, b.shared(src), b);
      break;
  }
  Value y;
  switch (r.combine) {
    case Residual::Combine::Add:
      y = b.add(f, s, base + ".add");
      break;
    case Residual::Combine::Scaled: {
      if (r.branch_scale != 1.0) f = b.scale(f, r.branch_scale, base + ".branch_scaled");
      if (r.shortcut_scale != 1.0) s = b.scale(s, r.shortcut_scale, base + ".shortcut_scaled");
      y = b.add(f, s, base + ".add");
      break;
    }
    case Residual::Combine::ExclusiveGate:
    case Residual::Combine::ShortcutOnlyGate: {
      const Value g = b.sigmoid(lower(r.gate, b.shared(x), b), base + ".gate.sigmoid");
      const Value gated_s = b.mul(b.one_minus(b.shared(g), base + ".one_minus_gate"), s, base + ".gated_shortcut");
      if (r.combine == Residual::Combine::ExclusiveGate) f = b.mul(b.shared(g), f, base + ".gated_branch");
      y = b.add(f, gated_s, base + ".add");
      break;
    }
  }
  return r.post.empty() ? y : lower(r.post, y, b);
}

template <class Backend>
typename Backend::Value lower(const Seq& seq, typename Backend::Value x, Backend& b) {
  for (const auto& n : seq) {
    switch (n.kind) {
      case Node::Kind::Conv:
        x = b.conv(n, x);
        break;
      case Node::Kind::Affine:
        x = b.affine(n, x);
        break;
      case Node::Kind::Relu:
        x = b.relu(x);
        break;
      case Node::Kind::MaxPool:
        x = b.max_pool(n, x);
        break;
      case Node::Kind::Residual:
        x = lower_residual(n, x, b);
        break;
      case Node::Kind::Head:
        x = b.head(n, x);
        break;
      default:
        throw ConfigError("inference graph: unknown op");
    }
  }
  return x;
}

}  // namespace wrn::infer::lowering
