// YAML run configurations (wrn train --config): parsed and validated as the tool does; one
// that is accepted must print (config_to_string) to a text that loads to the same text.
#include "fuzz_target.h"
#include "wrn/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wrn;
  const std::string path = fuzz::scratch_file("config.yaml");
  fuzz::write_file(path, std::string(reinterpret_cast<const char*>(data), size));
  std::string printed;
  try {
    printed = train::config_to_string(train::config_from_yaml(train::load_yaml_file(path)));
  } catch (const wrn::Error&) {
    return 0;
  }
  fuzz::write_file(path, printed);
  if (train::config_to_string(train::config_from_yaml(train::load_yaml_file(path))) != printed) std::abort();
  return 0;
}
