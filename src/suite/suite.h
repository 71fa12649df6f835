// `dsrt bench suite`: runs the standard cases and writes results.json, report.md and a
// self-contained report.html into an output folder. The entry points the CLI calls.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "suite/results.h"

namespace dsrt::suite {

struct SuiteOptions {
  Mode mode = Mode::Quick;
  std::vector<std::string> models;  // empty: the embedded demo model
  std::string out_dir;
  int threads = 0;                  // 0: every hardware thread
  std::vector<std::string> only;    // case-id prefixes to run (empty: all)
  std::string self_exe;             // this dsrt binary
  std::vector<std::string> commands;  // subcommands this binary has
};

// Runs the suite; progress goes to stderr. Returns the results document (also written).
Result<nlohmann::json> run_suite(const SuiteOptions& o);

// The case ids and titles, for `--list`.
std::vector<std::pair<std::string, std::string>> list_cases();

// Writes report.md and report.html for a results document into dir.
Status write_reports(const nlohmann::json& results, const std::string& dir);

}  // namespace dsrt::suite
