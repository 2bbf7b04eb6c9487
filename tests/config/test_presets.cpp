// Where the presets are found: $WRN_PRESET_DIR, else beside the running program
// (<prefix>/bin/../share/wrn/presets, the installed layout), else the source tree.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "wrn/core/error.h"
#include "wrn/config/presets.h"

namespace fs = std::filesystem;
using namespace wrn::train;

namespace {

// Restores (or unsets) $WRN_PRESET_DIR at the end of a test.
class PresetDirEnv {
 public:
  PresetDirEnv() {
    if (const char* v = std::getenv("WRN_PRESET_DIR")) saved_ = v, had_ = true;
  }
  ~PresetDirEnv() {
    if (had_) {
      setenv("WRN_PRESET_DIR", saved_.c_str(), 1);
    } else {
      unsetenv("WRN_PRESET_DIR");
    }
  }

 private:
  std::string saved_;
  bool had_ = false;
};

fs::path fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("wrn_presets_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

}  // namespace

TEST(PresetDir, EnvironmentVariableComesFirst) {
  PresetDirEnv env;
  const auto dir = fresh_dir("env");
  fs::copy_file(WRN_SOURCE_DIR "/presets/demo.yaml", dir / "mine.yaml");
  setenv("WRN_PRESET_DIR", dir.c_str(), 1);
  EXPECT_EQ(preset_dir(), dir.string());
  EXPECT_EQ(preset_names(), std::vector<std::string>{"mine"});
  EXPECT_EQ(find_preset("mine"), (dir / "mine.yaml").string());
  try {
    find_preset("mien");
    ADD_FAILURE() << "an unknown preset must throw";
  } catch (const wrn::ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("did you mean 'mine'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(dir.string()), std::string::npos) << msg;
  }
  fs::remove_all(dir);
}

TEST(PresetDir, FromTheBuildTreeItIsTheSourceTree) {
  PresetDirEnv env;
  unsetenv("WRN_PRESET_DIR");
  // This test runs from build/tests/train, which has no ../share/wrn/presets.
  EXPECT_EQ(fs::path(preset_dir()).lexically_normal(),
            fs::path(WRN_SOURCE_DIR "/presets").lexically_normal());
  EXPECT_FALSE(preset_names().empty());
}

TEST(PresetDir, AnInstalledToolFindsThemBesideItsBinary) {
  // The installed layout, built by hand: <prefix>/bin/wrn and <prefix>/share/wrn/presets.
  ASSERT_TRUE(fs::is_regular_file(WRN_TOOL_PATH)) << "build the wrn tool first: " << WRN_TOOL_PATH;
  const auto prefix = fresh_dir("prefix");
  fs::create_directories(prefix / "bin");
  fs::create_directories(prefix / "share/wrn/presets");
  fs::copy_file(WRN_TOOL_PATH, prefix / "bin/wrn");
  fs::permissions(prefix / "bin/wrn", fs::perms::owner_all, fs::perm_options::add);
  fs::copy_file(WRN_SOURCE_DIR "/presets/demo.yaml", prefix / "share/wrn/presets/only-this-one.yaml");

  const std::string cmd =
      "env -u WRN_PRESET_DIR " + (prefix / "bin/wrn").string() + " train --list-presets 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  const int status = pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_NE(out.find("presets in " + (prefix / "share/wrn/presets").string()), std::string::npos) << out;
  EXPECT_NE(out.find("only-this-one"), std::string::npos) << out;
  EXPECT_EQ(out.find("wrn-cifar10"), std::string::npos) << "the source tree's presets were listed:\n" << out;
  fs::remove_all(prefix);
}
