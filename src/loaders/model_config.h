// The model hyper-parameters, with Hugging Face config.json field names kept so code reads
// next to the paper and the reference. Parsed from config.json, or from a GGUF file's metadata
// (llama.cpp's keys, see model_config_from_gguf).
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace dsrt {

enum class Arch { DeepSeekV2, DeepSeekV3, Qwen2, Llama };
const char* arch_name(Arch a);

struct RopeScaling {
  std::string type;  // "" (none), "yarn", "llama3", "linear"
  float factor = 1.0f;
  int original_max_position_embeddings = 0;
  float beta_fast = 32.0f, beta_slow = 1.0f;         // yarn
  float mscale = 1.0f, mscale_all_dim = 0.0f;        // yarn
  float low_freq_factor = 1.0f, high_freq_factor = 4.0f;  // llama3
};

struct ModelConfig {
  std::string model_type;
  Arch arch = Arch::DeepSeekV3;
  int vocab_size = 0, hidden_size = 0, intermediate_size = 0, num_hidden_layers = 0;
  int num_attention_heads = 0, num_key_value_heads = 0;
  int head_dim = 0;  // dense models; hidden_size / num_attention_heads unless given
  float rms_norm_eps = 1e-6f, rope_theta = 10000.0f;
  int max_position_embeddings = 4096;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // qkv bias (Qwen2 always has it)
  RopeScaling rope_scaling;
  // RoPE pairs: true = adjacent (2i, 2i+1) ("normal" in ggml), false = half split (i, i + d/2)
  // ("neox", HF's rotate_half). Set by the source, as it depends on the weights' row order:
  // HF dense false; HF DeepSeek true; GGUF `llama` true (llama.cpp's converter permutes q/k
  // rows so the adjacent form reproduces HF), `qwen2` false, `deepseek2` true.
  bool rope_interleaved = false;
  // Per-frequency divisors of inv_freq (GGUF `rope_freqs.weight`, which llama.cpp's converter
  // writes for Llama-3 rope scaling instead of the scaling parameters); empty = none.
  std::vector<float> rope_freq_factors;
  std::vector<int> bos_token_ids, eos_token_ids;

  // MLA (DeepSeek V2/V3). q_lora_rank 0 = no q compression (V2-Lite).
  int q_lora_rank = 0, kv_lora_rank = 0, qk_nope_head_dim = 0, qk_rope_head_dim = 0,
      v_head_dim = 0;
  // DeepSeekMoE.
  int n_routed_experts = 0, n_shared_experts = 0, num_experts_per_tok = 0,
      moe_intermediate_size = 0, first_k_dense_replace = 0, moe_layer_freq = 1;
  int n_group = 1, topk_group = 1;
  std::string topk_method = "greedy", scoring_func = "softmax";
  bool norm_topk_prob = false;
  float routed_scaling_factor = 1.0f;

  // Storage: DeepSeek FP8 releases carry quantization_config.weight_block_size.
  int fp8_block = 0;

  bool is_deepseek() const { return arch == Arch::DeepSeekV2 || arch == Arch::DeepSeekV3; }
  bool is_moe_layer(int layer) const {
    return n_routed_experts > 0 && layer >= first_k_dense_replace &&
           layer % std::max(moe_layer_freq, 1) == 0;
  }
  int qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
};

// The structural checks every source's config must pass (positive sizes, divisibility, known
// routing methods); `source` names the file.
Status check_model_config(const ModelConfig& c, const std::string& source);

// Parses config.json text; `source` names the file in error messages.
Result<ModelConfig> parse_model_config(const std::string& json_text, const std::string& source);
Result<ModelConfig> load_model_config(const std::string& path);

class GgufFile;
// From a GGUF file's metadata (and, where llama.cpp encodes a hyper-parameter as the presence
// of a tensor, its tensor list): architectures deepseek2, llama, qwen2. Errors name the file
// and the key.
Result<ModelConfig> model_config_from_gguf(const GgufFile& f);

}  // namespace dsrt
