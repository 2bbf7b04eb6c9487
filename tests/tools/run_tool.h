// Runs the built `wrn` tool from a test and captures what it prints.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace wrn::testing {

struct ToolResult {
  int status;       // exit status (-1: killed or could not run)
  std::string out;  // stdout and stderr together
};

// Runs `WRN_TOOL_PATH args` through the shell, stderr folded into the output.
inline ToolResult run_tool(const std::string& args) {
  std::string cmd = std::string(WRN_TOOL_PATH) + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  ToolResult r{-1, ""};
  if (!pipe) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace wrn::testing
