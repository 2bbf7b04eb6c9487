#include "wrn/core/threads.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <thread>

#include "wrn/core/error.h"

namespace wrn {

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

int max_threads() { return std::max(64, 4 * hardware_threads()); }

int configure_threads(int threads) {
  WRN_CHECK(threads >= 0, "--threads: expected 0 (all cores) or a positive count, got {}", threads);
  WRN_CHECK(threads <= max_threads(), "--threads: {} is too many; expected at most {} (4x the {} hardware threads, at least 64)",
            threads, max_threads(), hardware_threads());
  int n = threads == 0 ? hardware_threads() : threads;
  at::set_num_threads(n);
  return at::get_num_threads();
}

}  // namespace wrn
