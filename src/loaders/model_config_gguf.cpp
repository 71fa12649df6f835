// ModelConfig from a GGUF file written by llama.cpp (convert_hf_to_gguf.py + llama-quantize):
// the `<arch>.*` metadata keys as llama.cpp's loader reads them (src/llama-model.cpp,
// gguf-py/gguf/constants.py), mapped back onto the Hugging Face field names the models use.
#include <cmath>

#include "loaders/gguf.h"
#include "loaders/model_config.h"

namespace dsrt {
namespace {

// Reads `<arch>.<key>` metadata; the first error is kept (it names the file and the key).
class Keys {
 public:
  Keys(const GgufFile& f, std::string arch) : f_(f), arch_(std::move(arch)) {}
  std::string key(const char* k) const { return arch_ + "." + k; }
  void req(const char* k, int* out) { set_int(f_.get_int(key(k)), k, out); }
  void opt(const char* k, int* out) {
    if (f_.has(key(k))) req(k, out);
  }
  void opt(const char* k, float* out) {
    if (!st_.ok() || !f_.has(key(k))) return;
    // llama.cpp writes these as F32, but accept an integer too (e.g. freq_base 10000).
    const GgufValue* v = f_.find(key(k));
    Result<double> d = v->as_f64();
    if (!d.ok()) return fail(f_.path() + ": key '" + key(k) + "' must be a number");
    *out = float(d.value());
  }
  void opt(const char* k, bool* out) {
    if (!st_.ok() || !f_.has(key(k))) return;
    Result<bool> b = f_.get_bool(key(k));
    if (!b.ok()) return fail(b.status().message());
    *out = b.value();
  }
  void opt(const char* k, std::string* out) {
    if (!st_.ok() || !f_.has(key(k))) return;
    Result<std::string> s = f_.get_string(key(k));
    if (!s.ok()) return fail(s.status().message());
    *out = s.value();
  }
  bool has(const char* k) const { return f_.has(key(k)); }
  const Status& status() const { return st_; }
  void fail(const std::string& m) {
    if (st_.ok()) st_ = Status::Error(m);
  }

 private:
  void set_int(Result<int64_t> r, const char* k, int* out) {
    if (!st_.ok()) return;
    if (!r.ok()) return fail(r.status().message());
    if (r.value() < 0 || r.value() > (int64_t(1) << 31) - 1)
      return fail(f_.path() + ": key '" + key(k) +
                  "' is out of range: " + std::to_string(r.value()));
    *out = int(r.value());
  }
  const GgufFile& f_;
  std::string arch_;
  Status st_;
};

// rope.scaling.* (llama.cpp: LLM_KV_ROPE_SCALING_*). For deepseek2 the converter writes
// yarn_log_multiplier = 0.1 * mscale_all_dim (conversion/deepseek.py) and llama.cpp divides by
// 0.1 again on load; its graph then scales the softmax by
// (1 + 0.1 * mscale_all_dim * ln factor)^2 and leaves the rotated values unscaled
// (src/models/deepseek2.cpp, PR #17945). HF's DeepSeek YaRN gives exactly that when
// mscale == mscale_all_dim (cos/sin factor mscale(mscale)/mscale(mscale_all_dim) = 1), which
// is how DeepSeek's configs are written; GGUF has no key for a separate mscale.
Status read_rope_scaling(const GgufFile& f, Keys& k, bool deepseek, ModelConfig* c) {
  std::string type;
  k.opt("rope.scaling.type", &type);
  float factor = 1.0f;
  k.opt("rope.scaling.factor", &factor);
  if (!k.has("rope.scaling.factor") && k.has("rope.scale_linear")) {  // older files
    k.opt("rope.scale_linear", &factor);
    if (type.empty()) type = "linear";
  }
  DSRT_RETURN_IF_ERROR(k.status());
  RopeScaling& rs = c->rope_scaling;
  if (type.empty() || type == "none" || (type == "linear" && factor == 1.0f)) {
    rs.type = "";
    return Status::Ok();
  }
  if (type != "yarn" && type != "linear")
    return Status::Error(f.path() + ": unsupported " + k.key("rope.scaling.type") + " '" + type +
                         "' (supported: none, linear, yarn)");
  if (!(factor > 0))
    return Status::Error(f.path() + ": " + k.key("rope.scaling.factor") + " must be positive");
  rs.type = type;
  rs.factor = factor;
  if (type == "yarn") {
    k.req("rope.scaling.original_context_length", &rs.original_max_position_embeddings);
    k.opt("rope.scaling.yarn_beta_fast", &rs.beta_fast);
    k.opt("rope.scaling.yarn_beta_slow", &rs.beta_slow);
    float log_mul = 0.0f;
    k.opt("rope.scaling.yarn_log_multiplier", &log_mul);
    DSRT_RETURN_IF_ERROR(k.status());
    if (rs.original_max_position_embeddings <= 0)
      return Status::Error(f.path() + ": " + k.key("rope.scaling.original_context_length") +
                           " must be positive");
    if (deepseek) {
      rs.mscale_all_dim = log_mul / 0.1f;
      rs.mscale = rs.mscale_all_dim;
    } else {
      // Dense archs: llama.cpp scales cos/sin by 1 + 0.1 ln factor (YaRN's default
      // attention factor), which is HF's Qwen2/Llama YaRN too: mscale 1, mscale_all_dim 0.
      if (log_mul != 0.0f)
        return Status::Error(f.path() + ": " + k.key("rope.scaling.yarn_log_multiplier") +
                             " is only supported for deepseek2");
      rs.mscale = 1.0f;
      rs.mscale_all_dim = 0.0f;
    }
  }
  return Status::Ok();
}

// The token list's length (llama.cpp's n_vocab), else `<arch>.vocab_size`, else the rows of
// token_embd.
Result<int> vocab_size(const GgufFile& f, const std::string& arch) {
  if (const GgufValue* v = f.find("tokenizer.ggml.tokens")) {
    if (v->type != GgufType::ARRAY)
      return Status::Error(f.path() + ": key 'tokenizer.ggml.tokens' must be an array");
    return int(v->count);
  }
  if (f.has(arch + ".vocab_size")) {
    DSRT_ASSIGN_OR_RETURN(uint32_t n, f.get_u32(arch + ".vocab_size"));
    return int(n);
  }
  if (const GgufTensorInfo* t = f.find_tensor("token_embd.weight"))
    if (t->shape.size() == 2) return int(t->shape[0]);
  return Status::Error(f.path() + ": no vocabulary size (no tokenizer.ggml.tokens, " + arch +
                       ".vocab_size or token_embd.weight)");
}

}  // namespace

Result<ModelConfig> model_config_from_gguf(const GgufFile& f) {
  const std::string arch = f.architecture();
  const std::string& src = f.path();
  ModelConfig c;
  if (arch == "deepseek2") {
    c.arch = Arch::DeepSeekV2;  // refined below once the gating function is known
  } else if (arch == "llama") {
    c.arch = Arch::Llama;
  } else if (arch == "qwen2") {
    c.arch = Arch::Qwen2;
  } else {
    return Status::Error(src + ": unsupported GGUF architecture '" +
                         (arch.empty() ? std::string("(no general.architecture)") : arch) +
                         "' (supported: deepseek2, llama, qwen2)");
  }
  Keys k(f, arch);
  k.req("block_count", &c.num_hidden_layers);
  k.req("embedding_length", &c.hidden_size);
  k.req("feed_forward_length", &c.intermediate_size);
  k.req("attention.head_count", &c.num_attention_heads);
  c.num_key_value_heads = c.num_attention_heads;
  k.opt("attention.head_count_kv", &c.num_key_value_heads);
  k.req("context_length", &c.max_position_embeddings);
  k.opt("attention.layer_norm_rms_epsilon", &c.rms_norm_eps);
  k.opt("rope.freq_base", &c.rope_theta);
  DSRT_RETURN_IF_ERROR(k.status());
  DSRT_ASSIGN_OR_RETURN(c.vocab_size, vocab_size(f, arch));
  c.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
  if (f.has("tokenizer.ggml.bos_token_id")) {
    DSRT_ASSIGN_OR_RETURN(uint32_t id, f.get_u32("tokenizer.ggml.bos_token_id"));
    c.bos_token_ids = {int(id)};
  }
  if (f.has("tokenizer.ggml.eos_token_id")) {
    DSRT_ASSIGN_OR_RETURN(uint32_t id, f.get_u32("tokenizer.ggml.eos_token_id"));
    c.eos_token_ids = {int(id)};
  }

  if (arch == "deepseek2") {
    c.model_type = "deepseek_v2";
    c.rope_interleaved = true;  // llama.cpp's deepseek2 graph: LLAMA_ROPE_TYPE_NORM, q/k unpermuted
    // MLA is stored as MQA (head_count_kv 1); our config keeps the HF view.
    c.num_key_value_heads = c.num_attention_heads;
    k.opt("attention.q_lora_rank", &c.q_lora_rank);  // 0 / absent: V2-Lite's plain q_proj
    k.req("attention.kv_lora_rank", &c.kv_lora_rank);
    k.req("rope.dimension_count", &c.qk_rope_head_dim);
    // Since llama.cpp's MLA rework, key_length/value_length describe the absorbed MQA view
    // (kv_lora_rank + rope / kv_lora_rank) and the *_mla keys the per-head sizes; older files
    // have only key_length = qk_nope + qk_rope and value_length = v_head_dim.
    int k_len = 0, v_len = 0;
    if (k.has("attention.key_length_mla")) {
      k.req("attention.key_length_mla", &k_len);
    } else {
      k.req("attention.key_length", &k_len);
    }
    if (k.has("attention.value_length_mla")) {
      k.req("attention.value_length_mla", &v_len);
    } else {
      k.req("attention.value_length", &v_len);
    }
    DSRT_RETURN_IF_ERROR(k.status());
    c.qk_nope_head_dim = k_len - c.qk_rope_head_dim;
    c.v_head_dim = v_len;
    if (c.qk_nope_head_dim < 0)
      return Status::Error(src + ": " + k.key("attention.key_length_mla") + " (" +
                           std::to_string(k_len) + ") is smaller than " +
                           k.key("rope.dimension_count") + " (" +
                           std::to_string(c.qk_rope_head_dim) + ")");
    c.head_dim = k_len;
    k.opt("leading_dense_block_count", &c.first_k_dense_replace);
    k.opt("expert_count", &c.n_routed_experts);
    k.opt("expert_shared_count", &c.n_shared_experts);
    if (c.n_routed_experts > 0) {
      k.req("expert_used_count", &c.num_experts_per_tok);
      k.req("expert_feed_forward_length", &c.moe_intermediate_size);
    }
    k.opt("expert_group_count", &c.n_group);
    k.opt("expert_group_used_count", &c.topk_group);
    if (c.n_group == 0) c.n_group = 1;
    if (c.topk_group == 0) c.topk_group = 1;
    k.opt("expert_weights_scale", &c.routed_scaling_factor);
    if (c.routed_scaling_factor == 0.0f) c.routed_scaling_factor = 1.0f;  // llama.cpp: 0 = none
    k.opt("expert_weights_norm", &c.norm_topk_prob);
    int gating = 1;  // llama.cpp treats an absent key in a deepseek2 file as softmax
    k.opt("expert_gating_func", &gating);
    DSRT_RETURN_IF_ERROR(k.status());
    if (gating == 2) {
      // DeepSeek-V3: sigmoid scores, e_score_correction_bias (exp_probs_b) for selection,
      // groups ranked by the sum of their top-2 biased scores (llama.cpp's build_moe_ffn).
      c.arch = Arch::DeepSeekV3;
      c.model_type = "deepseek_v3";
      c.scoring_func = "sigmoid";
      c.topk_method = "noaux_tc";
    } else if (gating == 1) {
      // DeepSeek-V2: softmax; with groups, the reference ranks a group by its best expert
      // (group_limited_greedy). (llama.cpp ranks every grouped model by its top-2 sum; the
      // shipped V2 files have one group, where both agree.)
      c.scoring_func = "softmax";
      c.topk_method = c.n_group > 1 ? "group_limited_greedy" : "greedy";
    } else {
      return Status::Error(src + ": unsupported " + k.key("expert_gating_func") + " " +
                           std::to_string(gating) + " (supported: 1 softmax, 2 sigmoid)");
    }
  } else {
    c.model_type = arch;
    c.rope_interleaved = arch == "llama";  // llama: converter-permuted q/k; qwen2: neox
    c.head_dim = c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0;
    k.opt("attention.key_length", &c.head_dim);
    int v_len = c.head_dim, rope_dim = c.head_dim;
    k.opt("attention.value_length", &v_len);
    k.opt("rope.dimension_count", &rope_dim);
    DSRT_RETURN_IF_ERROR(k.status());
    if (v_len != c.head_dim)
      return Status::Error(src + ": " + k.key("attention.value_length") + " " +
                           std::to_string(v_len) + " differs from the key length " +
                           std::to_string(c.head_dim) + " (unsupported)");
    if (rope_dim != c.head_dim)
      return Status::Error(src + ": partial rotary embedding (" + k.key("rope.dimension_count") +
                           " " + std::to_string(rope_dim) + " of head dim " +
                           std::to_string(c.head_dim) + ") is not supported");
    c.attention_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
    if (arch == "qwen2" && !c.attention_bias)
      return Status::Error(src + ": qwen2 file has no tensor 'blk.0.attn_q.bias'");
    if (const GgufTensorInfo* t = f.find_tensor("rope_freqs.weight")) {
      // Llama-3 rope scaling, baked by the converter into per-frequency divisors.
      DSRT_ASSIGN_OR_RETURN(Tensor rf, f.tensor("rope_freqs.weight"));
      if (rf.dtype != DType::F32 || rf.shape != std::vector<int64_t>{c.head_dim / 2})
        return Status::Error(src + ": tensor 'rope_freqs.weight' must be F32 [" +
                             std::to_string(c.head_dim / 2) + "], got " + t->type_name + " " +
                             rf.shape_str());
      c.rope_freq_factors.assign(rf.f32(), rf.f32() + c.head_dim / 2);
    }
  }
  DSRT_RETURN_IF_ERROR(read_rope_scaling(f, k, c.is_deepseek(), &c));
  DSRT_RETURN_IF_ERROR(check_model_config(c, src));
  return c;
}

}  // namespace dsrt
