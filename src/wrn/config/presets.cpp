#include "wrn/config/presets.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "wrn/core/error.h"
#include "wrn/core/text.h"

namespace wrn::train {

namespace fs = std::filesystem;

std::string preset_dir() {
  if (const char* env = std::getenv("WRN_PRESET_DIR"); env && *env) return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = (exe.parent_path() / ".." / "share" / "wrn" / "presets").lexically_normal();
    if (fs::is_directory(installed, ec)) return installed.string();
  }
  // src/CMakeLists.txt defines it for this file only: <source tree>/presets.
  return WRN_SOURCE_PRESET_DIR;
}

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(preset_dir(), ec)) {
    if (e.path().extension() == ".yaml") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string find_preset(const std::string& name_or_path) {
  if (name_or_path.find('/') != std::string::npos || fs::path(name_or_path).extension() == ".yaml" ||
      fs::path(name_or_path).extension() == ".yml") {
    std::error_code ec;
    WRN_CHECK_FILE(fs::exists(name_or_path, ec), "preset file '{}' does not exist", name_or_path);
    WRN_CHECK_FILE(fs::is_regular_file(name_or_path, ec),
                   "preset file '{}': not a regular file (a directory, device or FIFO), expected a YAML file",
                   name_or_path);
    return name_or_path;
  }
  const auto path = (fs::path(preset_dir()) / (name_or_path + ".yaml")).string();
  if (fs::is_regular_file(path)) return path;
  const auto names = preset_names();
  throw ConfigError(fmt::format("unknown preset '{}'{}; presets in {}: {}", name_or_path,
                                did_you_mean(name_or_path, names), preset_dir(),
                                names.empty() ? "(none)" : join(names, ", ")));
}

}  // namespace wrn::train
