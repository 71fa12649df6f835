// `dsrt advise`: which hardware and precision fit a DeepSeek model for a scenario, and how
// fast it should run there. A roofline model (decode reads the active weights and the KV cache
// each step; prefill is bound by FLOP/s; memory = weights + KV x context x concurrency +
// overhead) over the built-in specification table, calibrated by a measured suite profile
// when one is given.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"

namespace dsrt::suite {

struct AdviseOptions {
  std::string model;              // a known name or a checkpoint folder / config.json
  std::string scenario = "infer";  // infer | serve | train
  int context = 4096;
  int concurrency = 0;            // 0: 1 for infer, 16 for serve, 8 sequences per step for train
  double budget_mem_gb = 0;       // 0: no budget
  std::string profile;            // results.json of `dsrt bench suite`
};

struct Advice {
  std::string text;   // the explanation in plain words
  nlohmann::json j;   // the same as data
};

Result<Advice> advise(const AdviseOptions& o);

}  // namespace dsrt::suite
