// Helpers shared by the tests: where the repository, the vendored data and ../shared are.
#pragma once

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

}  // namespace dsrt::test
