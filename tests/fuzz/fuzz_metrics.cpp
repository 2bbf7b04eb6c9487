// A run's metrics.jsonl and steps.jsonl (read on resume, by report and by info).
#include "fuzz_target.h"
#include "wrn/report/metrics_log.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wrn;
  const std::string path = fuzz::scratch_file("metrics.jsonl");
  fuzz::write_file(path, std::string(reinterpret_cast<const char*>(data), size));
  fuzz::expect_success_or_wrn_error([&] { train::read_metrics(path); });
  fuzz::expect_success_or_wrn_error([&] { train::read_step_metrics(path); });
  return 0;
}
