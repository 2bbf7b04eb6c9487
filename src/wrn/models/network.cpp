#include "wrn/models/network.h"

#include "wrn/core/error.h"
#include "wrn/core/text.h"

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
  return s;
}

}  // namespace wrn::models
