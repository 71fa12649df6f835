// Helpers shared by the tests: where the repository, the vendored data and ../shared are.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace dsrt::test {

inline std::string repo_dir() { return DSRT_SOURCE_DIR; }
inline std::string binary_dir() { return DSRT_BINARY_DIR; }
inline std::string dsrt_binary() { return std::string(DSRT_BINARY_DIR) + "/bin/dsrt"; }
inline std::string vendored_dir() { return repo_dir() + "/tests/data"; }
// ../shared relative to the repository root, or "" when this clone has none.
inline std::string shared_dir() {
  const std::string p = repo_dir() + "/../shared";
  return std::filesystem::exists(p + "/data") ? p : std::string();
}

// Runs a shell command line as given (callers add their own redirections) and returns its
// stdout; *rc is the exit status, or -1 when it could not run or died from a signal.
inline std::string run_command(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *rc = -1;
    return out;
  }
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = pclose(p);
  *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

}  // namespace dsrt::test
