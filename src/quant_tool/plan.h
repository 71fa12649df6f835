// The tensors of the GGUF file to write, planned from a model's config and a TensorSource
// that answers Hugging Face names (a checkpoint folder or another GGUF file): llama.cpp's
// name, shape and class of each, and a reader for its rows as float, already in GGUF layout:
//  - experts stacked into ffn_{gate,up,down}_exps [n_expert, out, in];
//  - MLA kv_b_proj split into attn_k_b [H, kv_lora_rank, qk_nope] (W_UK[h] transposed) and
//    attn_v_b [H, v_head_dim, kv_lora_rank] (W_UV[h]), as llama.cpp's converter writes them;
//  - Llama q_proj/k_proj rows (and biases) permuted per head as llama.cpp's converter does, so
//    that ggml's adjacent-pair rope reproduces HF's half-split rotate_half (only for a
//    Hugging Face source; a GGUF source is already permuted);
//  - rope_freqs.weight for Llama-3 rope scaling (per-frequency divisors);
//  - FP8 weights dequantized exactly with their weight_scale_inv blocks.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loaders/model_config.h"
#include "models/weights.h"
#include "quant_tool/recipe.h"

namespace dsrt {

struct PlannedTensor {
  std::string name;             // GGUF name
  TensorClass cls = TensorClass::Vector;
  int layer = -1;
  std::vector<int64_t> shape;   // outermost first (GGUF ne reversed)
  DType source_type = DType::F32;
  // Decodes row r (of rows()) into out[0..cols()). Thread-safe.
  std::function<void(int64_t r, float* out)> row;
  // For importance weighting: HF name whose input activations row r multiplies ("" = none
  // known); rows [g * rows_per_group, ...) belong to group g.
  std::vector<std::string> row_groups;
  int64_t rows_per_group = 0;

  int64_t cols() const { return shape.back(); }
  int64_t rows() const {
    int64_t r = 1;
    for (size_t i = 0; i + 1 < shape.size(); ++i) r *= shape[i];
    return r;
  }
  int64_t numel() const { return rows() * cols(); }
  const std::string& group_of_row(int64_t r) const {
    static const std::string kNone;
    if (row_groups.empty() || rows_per_group <= 0) return kNone;
    return row_groups[size_t(std::min<int64_t>(r / rows_per_group, int64_t(row_groups.size()) - 1))];
  }
};

struct PlanResult {
  std::vector<PlannedTensor> tensors;
  int n_unused_source = -1;  // -1 = unknown
};

// hf_layout: the source has Hugging Face row order (Llama q/k need the converter's
// permutation); false for a GGUF source.
Result<PlanResult> plan_tensors(const ModelConfig& c, std::shared_ptr<const TensorSource> src,
                                bool hf_layout);

}  // namespace dsrt
