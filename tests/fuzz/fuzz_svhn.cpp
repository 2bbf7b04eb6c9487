// SVHN's MATLAB v5 .mat files (matio): the input is test_32x32.mat.
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wrn;
  fuzz::set_small_read_limits();
  const std::string dir = fuzz::scratch_dir();
  fuzz::write_file(dir + "/test_32x32.mat", std::string(reinterpret_cast<const char*>(data), size));
  fuzz::expect_success_or_wrn_error([&] {
    const data::Dataset set = data::load_svhn(dir, "test");
    if (set.images.size(0) != set.labels.size(0)) std::abort();
  });
  return 0;
}
