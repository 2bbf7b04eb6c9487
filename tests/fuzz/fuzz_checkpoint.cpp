// Training checkpoints (resume, eval, predict, export): the input as it is, and with its
// header's size and CRC and its payload's zip CRCs made right so that mutations reach the
// zip check, the pickle scan and LibTorch's unpickler behind them.
#include "fuzz_target.h"
#include "wrn/io/checkpoint.h"

namespace {

// Reads every byte of every tensor: a storage that claims more than its record holds would
// make ASan report here.
void read_all(const wrn::io::Checkpoint& c) {
  for (const auto* dict : {&c.model, &c.optimizer, &c.rng, &c.running, &c.ema})
    for (const auto& t : *dict) (void)t.value.clone();
  for (const auto& t : c.normalizer) (void)t.clone();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wrn;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  fuzz::expect_success_or_wrn_error([&] { read_all(io::parse_checkpoint(bytes, "input")); });
  constexpr size_t kHeader = 24;
  if (bytes.size() < kHeader || std::memcmp(bytes.data(), io::kCheckpointMagic, 8) != 0) return 0;
  std::string fixed = bytes.substr(0, kHeader) + fuzz::with_zip_crcs_fixed(bytes.substr(kHeader));
  fuzz::put32(fixed, 12, fuzz::crc32_of(fixed, kHeader, fixed.size() - kHeader));
  const uint64_t payload = fixed.size() - kHeader;
  std::memcpy(fixed.data() + 16, &payload, 8);
  if (fixed != bytes) fuzz::expect_success_or_wrn_error([&] { read_all(io::parse_checkpoint(fixed, "input")); });
  return 0;
}
