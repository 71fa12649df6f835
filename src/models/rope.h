// Rotary-embedding frequencies for each family's scaling rule, computed once at load.
#pragma once

#include <vector>

#include "loaders/model_config.h"

namespace dsrt {

struct RopeTable {
  std::vector<float> inv_freq;  // [rope_dim / 2]
  float attn_factor = 1.0f;     // multiplies cos/sin
  float softmax_mscale = 1.0f;  // multiplies the attention softmax scale
};

RopeTable make_rope_table(const ModelConfig& c, int rope_dim);

}  // namespace dsrt
