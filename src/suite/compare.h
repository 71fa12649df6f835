// `dsrt bench compare`: side-by-side tables of several results.json files (machines or
// builds), with ratios to a baseline run, efficiency per watt where energy was measured, and
// warnings where the same case ran with different parameters.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace dsrt::suite {

struct CompareOutput {
  std::string markdown, html;
  std::vector<std::string> warnings;
};

// docs[i] came from names[i]; baseline is a 0-based index into docs.
Result<CompareOutput> compare_results(const std::vector<nlohmann::json>& docs,
                                      const std::vector<std::string>& names, int baseline);

}  // namespace dsrt::suite
