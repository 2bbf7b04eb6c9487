// The shipped training recipes: YAML files in a presets directory, found at run time.
#pragma once

#include <string>
#include <vector>

namespace wrn::train {

// The directory holding the shipped presets, the first of:
//   1. $WRN_PRESET_DIR when set and not empty;
//   2. <directory of the running program>/../share/wrn/presets when it exists (the installed
//      layout: <prefix>/bin/wrn beside <prefix>/share/wrn/presets; read from /proc/self/exe);
//   3. the source tree's presets/ (compiled in, for programs run from the build tree).
// Never throws; the directory may not exist (then preset_names() is empty).
std::string preset_dir();

// Names of the shipped presets (the .yaml file stems in preset_dir()), sorted.
std::vector<std::string> preset_names();

// A preset name ("wrn-cifar10") or a path to a YAML file (one containing '/' or ending in
// .yaml/.yml) -> the file's path. Throws wrn::FileError for a path that is not a file and
// wrn::ConfigError listing the presets (with a did-you-mean) for an unknown name.
std::string find_preset(const std::string& name_or_path);

}  // namespace wrn::train
