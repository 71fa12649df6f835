// GGUF files written by llama.cpp as a TensorSource: Hugging Face tensor names are mapped to
// llama.cpp's (src/llama-arch.cpp LLM_TENSOR_NAMES, convert_hf_to_gguf.py), and tensors whose
// GGUF layout differs from HF's are handed out in HF's:
//  - stacked experts ffn_{gate,up,down}_exps [n_expert, out, in] -> one zero-copy 2-D view per
//    `mlp.experts.E.*_proj.weight`;
//  - DeepSeek's kv_b_proj, which llama.cpp's converter splits into attn_k_b [H, r, nope] (the
//    k part transposed) and attn_v_b [H, v, r] and no longer writes: assembled on request
//    into an F32 [H * (nope + v), r] tensor (dequantized exactly; costs F32 memory for
//    kv_b, 4 * H * (nope + v) * r bytes per layer; only the naive MLA form asks for it).
//    Older files with attn_kv_b use it as is.
//  - the split halves themselves, zero-copy in their stored dtype, under two names of dsrt's
//    own (no HF checkpoint has them; see kSplitKb/kSplitVb): `self_attn.k_b_proj.weight`
//    = attn_k_b as [H * r, nope] (head h's W_UK^T is rows h*r ..) and
//    `self_attn.v_b_proj.weight` = attn_v_b as [H * v, r] (head h's W_UV is rows h*v ..).
//    The absorbed MLA form uses them directly as matmul weights.
// Q/K rows of `llama` files stay as the converter permuted them; the config's
// rope_interleaved says how to rotate them (see ModelConfig).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "loaders/gguf.h"
#include "models/weights.h"

namespace dsrt {

// llama.cpp's name for a Hugging Face tensor name that maps one to one ("model.norm.weight"
// -> "output_norm.weight"); nullopt for names with no direct GGUF tensor (experts, kv_b_proj)
// or unknown names.
std::optional<std::string> gguf_tensor_name(const std::string& hf_name);

// dsrt's names (after "model.layers.N.") for llama.cpp's split MLA kv_b halves, answered by
// GgufSource when the file has attn_k_b / attn_v_b; no other source has them.
inline constexpr const char* kSplitKb = "self_attn.k_b_proj.weight";  // [H * r, nope]
inline constexpr const char* kSplitVb = "self_attn.v_b_proj.weight";  // [H * v, r]

// For writers (dsrt quantize), the same map enumerated: every Hugging Face name that
// gguf_tensor_name maps one to one, globals and each of n_layers layers, in the map's order.
std::vector<std::string> gguf_mappable_hf_names(int n_layers);
// "model.layers.L.mlp.experts.E.{gate,up,down}_proj.weight" -> (E,
// "blk.L.ffn_{gate,up,down}_exps.weight"), the stacked tensor expert E lives in; nullopt for
// any other name.
std::optional<std::pair<int64_t, std::string>> gguf_expert_tensor_name(const std::string& hf_name);

class GgufSource final : public TensorSource {
 public:
  explicit GgufSource(std::shared_ptr<GgufFile> f) : f_(std::move(f)) {}
  bool has(const std::string& hf_name) const override;
  Result<Tensor> get(const std::string& hf_name) const override;
  std::string file_name(const std::string& hf_name) const override;
  const GgufFile& file() const { return *f_; }

 private:
  Result<Tensor> expert(const std::string& gguf_stacked, int64_t e) const;
  Result<Tensor> kv_b(int layer) const;
  Result<Tensor> split_half(int64_t layer, bool k) const;  // kSplitKb / kSplitVb
  std::shared_ptr<GgufFile> f_;
};

}  // namespace dsrt
