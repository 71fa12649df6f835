// The embedded default model: a small DeepSeek-V3-architecture checkpoint with random weights
// that dsrt writes itself (deterministic from a seed), plus the vendored DeepSeek-V3 tokenizer,
// so the README's main command runs end to end with no download. Its output is gibberish
// until a trained model replaces it.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace dsrt {

struct DemoOptions {
  uint64_t seed = 20241226;  // DeepSeek-V3's release date
  int hidden_size = 256;
  int num_hidden_layers = 4;
};

// Writes config.json, model.safetensors (BF16 weights, F32 router bias) and the tokenizer
// files from `assets_dir` into `out_dir` (created). Written to a temporary folder first and
// renamed, so an interrupted run never leaves a half-made model.
Status write_demo_model(const std::string& out_dir, const std::string& assets_dir,
                        const DemoOptions& opt = {});

// $DSRT_DEMO_DIR, else $XDG_CACHE_HOME/dsrt/demo-v3, else ~/.cache/dsrt/demo-v3.
std::string default_demo_dir();
// $DSRT_ASSETS_DIR, else the source tree's assets/ folder recorded at build time.
std::string default_assets_dir();

}  // namespace dsrt
