// CIFAR-10 and CIFAR-100 binary files: the input is the test file of both.
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wrn;
  fuzz::set_small_read_limits();
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const std::string dir = fuzz::scratch_dir();
  fuzz::write_file(dir + "/test_batch.bin", bytes);  // CIFAR-10
  fuzz::write_file(dir + "/test.bin", bytes);        // CIFAR-100
  fuzz::expect_success_or_wrn_error([&] { data::load_cifar10(dir, "test"); });
  fuzz::expect_success_or_wrn_error([&] { data::load_cifar100(dir, "test", false); });
  fuzz::expect_success_or_wrn_error([&] { data::load_cifar100(dir, "test", true); });
  return 0;
}
