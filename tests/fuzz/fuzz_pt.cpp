// PyTorch .pt state dicts (torch.save's zip + pickle): the input as it is, and with its zip
// CRCs made right so that mutations reach the pickle reader.
#include "fuzz_target.h"
#include "wrn/io/pt_format.h"

namespace {

// Reads every byte of every tensor (ASan checks that each lies inside the file's record).
void read_all(const wrn::io::StateDict& tensors) {
  for (const auto& t : tensors) (void)t.value.clone();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wrn;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  fuzz::expect_success_or_wrn_error([&] { read_all(io::decode_pt(bytes, "input")); });
  const std::string fixed = fuzz::with_zip_crcs_fixed(bytes);
  if (fixed != bytes) fuzz::expect_success_or_wrn_error([&] { read_all(io::decode_pt(fixed, "input")); });
  return 0;
}
