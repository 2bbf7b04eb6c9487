#include "wrn/dist/world.h"

#include <cstdlib>
#include <string>

#include "wrn/core/error.h"

namespace wrn::dist {
namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

int env_int(const char* name, int fallback, int lo, int hi) {
  const char* v = env(name);
  if (!v) return fallback;
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v, &end, 10);
  WRN_CHECK(end && *end == '\0' && errno == 0 && x >= lo && x <= hi,
            "environment variable {}='{}': expected an integer in [{}, {}]", name, v, lo, hi);
  return static_cast<int>(x);
}

}  // namespace

std::optional<WorldInfo> WorldInfo::from_environment() {
  if (!env("WORLD_SIZE")) return std::nullopt;
  constexpr int kMaxRanks = 1 << 16;
  WorldInfo w;
  w.world_size = env_int("WORLD_SIZE", 1, 1, kMaxRanks);
  w.rank = env_int("RANK", 0, 0, w.world_size - 1);
  w.local_world_size = env_int("LOCAL_WORLD_SIZE", 1, 1, w.world_size);
  w.local_rank = env_int("LOCAL_RANK", 0, 0, w.local_world_size - 1);
  if (const char* a = env("MASTER_ADDR")) w.master_addr = a;
  w.master_port = env_int("MASTER_PORT", w.master_port, 1, 65535);
  if (const char* s = env("TORCHELASTIC_USE_AGENT_STORE")) w.agent_store = std::string(s) == "True" || std::string(s) == "1";
  w.restart_count = env_int("TORCHELASTIC_RESTART_COUNT", 0, 0, 1 << 30);
  WRN_CHECK(w.world_size == 1 || env("RANK"), "environment: WORLD_SIZE is {} but RANK is not set", w.world_size);
  return w;
}

}  // namespace wrn::dist
