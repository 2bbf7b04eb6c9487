#include "wrn/models/network.h"

#include "wrn/core/error.h"
#include "wrn/core/text.h"
#include "wrn/models/init.h"

namespace wrn::models {

std::string InputShape::str() const { return fmt::format("{}x{}x{}", channels, height, width); }

InputShape InputShape::parse(const std::string& text, const std::string& what) {
  auto parts = split(text, 'x');
  WRN_CHECK(parts.size() == 3, "{}: expected CxHxW such as 3x32x32, got '{}'", what, text);
  InputShape s;
  s.channels = parse_int(parts[0], what);
  s.height = parse_int(parts[1], what);
  s.width = parse_int(parts[2], what);
  WRN_CHECK(s.channels > 0 && s.height > 0 && s.width > 0, "{}: every dimension must be positive, got '{}'",
            what, text);
  WRN_CHECK(s.channels <= 1024 && s.height <= 65536 && s.width <= 65536,
            "{}: '{}' is beyond the sizes wrn handles (at most 1024 channels and 65536 pixels a side)", what, text);
  return s;
}

graph::Seq ClassifierImpl::op_graph() const {
  graph::Seq seq = to_graph();
  graph::name_nodes(seq, *this);
  return seq;
}

torch::nn::Linear ClassifierImpl::replace_classifier(const torch::nn::Linear& old, int64_t classes) {
  WRN_CHECK(classes >= 1, "classes must be at least 1, got {}", classes);
  auto fc = replace_module("fc", torch::nn::Linear(old->options.in_features(), classes));
  init_linear(fc);
  fc->to(old->weight.device());
  return fc;
}

}  // namespace wrn::models
