// The embedded default model: a small DeepSeek-V3-architecture checkpoint with random weights
// that dsrt writes itself (deterministic from a seed), plus the vendored DeepSeek-V3 tokenizer,
// so the README's main command runs end to end with no download. Its output is gibberish
// until a trained model replaces it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace dsrt {

struct DemoOptions {
  uint64_t seed = 20241226;  // DeepSeek-V3's release date
  // "demo" (the default: DeepSeek-V3 architecture, 4 layers, hidden 256), or a realistic
  // benchmark shape with random weights: "smollm2-135m" (llama: hidden 576, 30 layers, 9/3
  // heads, FFN 1536, vocab 49152), "v2-lite-8l" (deepseek_v2: hidden 1024, 8 layers, 16 heads,
  // kv_lora_rank 512, 64 experts top-6 + 2 shared, expert FFN 352, vocab 32000),
  // "v2-lite-2048-8l" (V2-Lite's per-layer shape: hidden 2048, expert FFN 1408, 8 layers).
  std::string preset = "demo";
  std::string dtype = "bf16";  // bf16 | f16 | f32 for the matrices
};
std::vector<std::string> demo_presets();

// Writes config.json, model.safetensors (matrices in opt.dtype, norms BF16, router bias F32)
// and the tokenizer files from `assets_dir` (restricted to the preset's vocabulary) into
// `out_dir` (created). Written to a temporary folder first and
// renamed, so an interrupted run never leaves a half-made model.
Status write_demo_model(const std::string& out_dir, const std::string& assets_dir,
                        const DemoOptions& opt = {});

// $DSRT_DEMO_DIR, else $XDG_CACHE_HOME/dsrt/demo-v3, else ~/.cache/dsrt/demo-v3.
std::string default_demo_dir();
// $DSRT_ASSETS_DIR, else the source tree's assets/ folder recorded at build time.
std::string default_assets_dir();

}  // namespace dsrt
