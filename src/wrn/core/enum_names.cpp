#include "wrn/core/enum_names.h"

#include <algorithm>

#include "wrn/core/error.h"
#include "wrn/core/text.h"

namespace wrn {

size_t enum_index(const std::string& text, const std::vector<std::string>& allowed, const std::string& key) {
  const auto it = std::find(allowed.begin(), allowed.end(), text);
  WRN_CHECK(it != allowed.end(), "config: '{}' is '{}', expected one of {}{}", key, text, join(allowed, ", "),
            did_you_mean(text, allowed));
  return static_cast<size_t>(it - allowed.begin());
}

}  // namespace wrn
