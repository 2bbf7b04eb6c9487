// Timing helpers shared by the micro-benchmarks (wrn bench) and channels_last: auto's probe.
#pragma once

#include <vector>

namespace wrn {

// The median of timings (the upper one of an even count; the count's order does not matter).
// Requires: `values` not empty.
double median(std::vector<double> values);

}  // namespace wrn
