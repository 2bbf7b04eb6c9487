// safetensors (wrn import / init_from), with the wrn.* metadata that import reads.
#include "fuzz_target.h"
#include "wrn/io/safetensors.h"
#include "wrn/setup/export_metadata.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wrn;
  fuzz::expect_success_or_wrn_error([&] {
    const io::SafetensorsFile file =
        io::decode_safetensors(std::string(reinterpret_cast<const char*>(data), size), "input");
    fuzz::expect_success_or_wrn_error([&] { train::metadata_preprocessing(file.metadata, "input"); });
    fuzz::expect_success_or_wrn_error([&] { train::metadata_class_names(file.metadata, "input"); });
  });
  return 0;
}
