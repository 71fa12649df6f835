// Activation statistics for importance-weighted quantization error (the idea of llama.cpp's
// imatrix, computed our own way): one forward pass over calibration tokens on the source
// model, recording for every weight W the sum over tokens of x_j^2 for each input column j of
// the activations x it multiplies (routed experts: only the tokens routed to them).
//
// Hooks without touching model code: a TensorSource wrapper remembers which HF name each
// weight's data pointer came from, and a Backend wrapper accumulates the inputs of matmul and
// of each expert in moe_ffn (the down projection's input, silu(gate x) * up x, is recomputed
// with the wrapped backend's own ops). The model runs the naive MLA form so kv_b is used as
// one matrix.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loaders/model_config.h"
#include "models/weights.h"

namespace dsrt {

struct ActStats {
  std::vector<double> sum_sq;  // [in] sum over tokens of x_j^2
  int64_t n_tokens = 0;
};
using ActStatsMap = std::map<std::string, ActStats>;  // by HF tensor name

struct CalibResult {
  ActStatsMap stats;
  int64_t n_tokens = 0;
  bool synthetic_tokens = false;
};

// The built-in calibration text (mixed prose, code, math, lists, Chinese).
const std::string& builtin_calibration_text();

// Runs the model over `tokens` (chunks of at most chunk tokens, each from an empty cache).
Result<CalibResult> collect_activation_stats(const ModelConfig& c, std::shared_ptr<const TensorSource> src,
                                             const std::vector<int32_t>& tokens, int n_threads,
                                             int chunk = 128);

}  // namespace dsrt
