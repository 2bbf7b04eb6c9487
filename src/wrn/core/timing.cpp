#include "wrn/core/timing.h"

#include <algorithm>

#include "wrn/core/error.h"

namespace wrn {

double median(std::vector<double> values) {
  WRN_CHECK(!values.empty(), "median of no values");
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace wrn
