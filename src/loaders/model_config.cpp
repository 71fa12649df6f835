#include "loaders/model_config.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/mmap_file.h"

namespace dsrt {
namespace {

using nlohmann::json;

// Reads typed fields and records the first error with the field's name.
class Fields {
 public:
  Fields(const json& j, std::string src) : j_(j), src_(std::move(src)) {}
  template <class T>
  void req(const char* key, T* out) {
    if (!st_.ok()) return;
    if (!j_.contains(key) || j_[key].is_null()) {
      st_ = Status::Error(src_ + ": missing required field '" + std::string(key) + "'");
      return;
    }
    get(key, j_[key], out);
  }
  template <class T>
  void opt(const char* key, T* out) {
    if (!st_.ok() || !j_.contains(key) || j_[key].is_null()) return;
    get(key, j_[key], out);
  }
  const Status& status() const { return st_; }
  void fail(const std::string& m) {
    if (st_.ok()) st_ = Status::Error(src_ + ": " + m);
  }

 private:
  void get(const char* key, const json& v, int* out) {
    if (!v.is_number_integer()) return fail("field '" + std::string(key) + "' must be an integer, got " + v.dump());
    const int64_t x = v.get<int64_t>();
    if (x < 0 || x > (int64_t(1) << 31) - 1) return fail("field '" + std::string(key) + "' is out of range: " + v.dump());
    *out = int(x);
  }
  void get(const char* key, const json& v, float* out) {
    if (!v.is_number()) return fail("field '" + std::string(key) + "' must be a number, got " + v.dump());
    *out = v.get<float>();
  }
  void get(const char* key, const json& v, bool* out) {
    if (!v.is_boolean()) return fail("field '" + std::string(key) + "' must be true/false, got " + v.dump());
    *out = v.get<bool>();
  }
  void get(const char* key, const json& v, std::string* out) {
    if (!v.is_string()) return fail("field '" + std::string(key) + "' must be a string, got " + v.dump());
    *out = v.get<std::string>();
  }
  void get(const char* key, const json& v, std::vector<int>* out) {
    out->clear();
    if (v.is_number_integer()) {
      out->push_back(v.get<int>());
    } else if (v.is_array()) {
      for (const json& e : v) {
        if (!e.is_number_integer()) return fail("field '" + std::string(key) + "' must hold integers");
        out->push_back(e.get<int>());
      }
    } else {
      fail("field '" + std::string(key) + "' must be an integer or a list of integers");
    }
  }
  const json& j_;
  std::string src_;
  Status st_;
};

}  // namespace

const char* arch_name(Arch a) {
  switch (a) {
    case Arch::DeepSeekV2: return "deepseek_v2";
    case Arch::DeepSeekV3: return "deepseek_v3";
    case Arch::Qwen2: return "qwen2";
    case Arch::Llama: return "llama";
  }
  return "?";
}

// Structural checks: everything the model code divides or indexes by.
Status check_model_config(const ModelConfig& c, const std::string& src) {
  auto bad = [&](const std::string& m) { return Status::Error(src + ": " + m); };
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.num_hidden_layers <= 0 ||
      c.num_attention_heads <= 0)
    return bad("vocab_size, hidden_size, num_hidden_layers and num_attention_heads must be positive");
  if (c.num_key_value_heads <= 0 || c.num_attention_heads % c.num_key_value_heads != 0)
    return bad("num_attention_heads must be a multiple of num_key_value_heads");
  if (c.is_deepseek()) {
    if (c.kv_lora_rank <= 0 || c.qk_rope_head_dim <= 0 || c.qk_rope_head_dim % 2 ||
        c.v_head_dim <= 0 || c.qk_nope_head_dim < 0)
      return bad("MLA dims (kv_lora_rank, qk_rope_head_dim even, v_head_dim) must be positive");
    if (c.n_routed_experts > 0) {
      if (c.num_experts_per_tok <= 0 || c.num_experts_per_tok > c.n_routed_experts)
        return bad("num_experts_per_tok must be in 1..n_routed_experts");
      if (c.n_group <= 0 || c.n_routed_experts % c.n_group != 0 || c.topk_group <= 0 ||
          c.topk_group > c.n_group)
        return bad("n_group must divide n_routed_experts and topk_group be in 1..n_group");
      if (c.scoring_func != "softmax" && c.scoring_func != "sigmoid")
        return bad("unsupported scoring_func '" + c.scoring_func + "' (softmax, sigmoid)");
      if (c.topk_method != "greedy" && c.topk_method != "group_limited_greedy" &&
          c.topk_method != "noaux_tc")
        return bad("unsupported topk_method '" + c.topk_method +
                   "' (greedy, group_limited_greedy, noaux_tc)");
      if (c.moe_intermediate_size <= 0) return bad("moe_intermediate_size must be positive");
    }
  } else {
    if (c.head_dim <= 0 || c.head_dim % 2) return bad("head_dim must be positive and even");
  }
  return Status::Ok();
}

Result<ModelConfig> parse_model_config(const std::string& text, const std::string& src) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Error(src + ": not a valid JSON object");
  ModelConfig c;
  Fields f(j, src);
  f.req("model_type", &c.model_type);
  DSRT_RETURN_IF_ERROR(f.status());
  if (c.model_type == "deepseek_v2") c.arch = Arch::DeepSeekV2;
  else if (c.model_type == "deepseek_v3") c.arch = Arch::DeepSeekV3;
  else if (c.model_type == "qwen2") c.arch = Arch::Qwen2;
  else if (c.model_type == "llama") c.arch = Arch::Llama;
  else
    return Status::Error(src + ": unsupported model_type '" + c.model_type +
                         "' (supported: deepseek_v2, deepseek_v3, qwen2, llama)");
  f.req("vocab_size", &c.vocab_size);
  f.req("hidden_size", &c.hidden_size);
  f.req("num_hidden_layers", &c.num_hidden_layers);
  f.req("num_attention_heads", &c.num_attention_heads);
  c.num_key_value_heads = c.num_attention_heads;
  f.opt("num_key_value_heads", &c.num_key_value_heads);
  f.req("intermediate_size", &c.intermediate_size);
  f.opt("rms_norm_eps", &c.rms_norm_eps);
  f.opt("rope_theta", &c.rope_theta);
  f.opt("max_position_embeddings", &c.max_position_embeddings);
  f.opt("tie_word_embeddings", &c.tie_word_embeddings);
  f.opt("attention_bias", &c.attention_bias);
  f.opt("bos_token_id", &c.bos_token_ids);
  f.opt("eos_token_id", &c.eos_token_ids);
  if (c.arch == Arch::Qwen2) c.attention_bias = true;
  c.rope_interleaved = c.is_deepseek();  // DeepSeek's model.py rotates adjacent pairs
  c.head_dim = c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0;
  f.opt("head_dim", &c.head_dim);
  if (c.is_deepseek()) {
    f.opt("q_lora_rank", &c.q_lora_rank);  // null = no q LoRA (V2-Lite)
    f.req("kv_lora_rank", &c.kv_lora_rank);
    f.req("qk_nope_head_dim", &c.qk_nope_head_dim);
    f.req("qk_rope_head_dim", &c.qk_rope_head_dim);
    f.req("v_head_dim", &c.v_head_dim);
    f.opt("n_routed_experts", &c.n_routed_experts);
    if (c.n_routed_experts > 0) {
      f.req("num_experts_per_tok", &c.num_experts_per_tok);
      f.req("moe_intermediate_size", &c.moe_intermediate_size);
    }
    f.opt("n_shared_experts", &c.n_shared_experts);
    f.opt("first_k_dense_replace", &c.first_k_dense_replace);
    f.opt("moe_layer_freq", &c.moe_layer_freq);
    f.opt("n_group", &c.n_group);
    f.opt("topk_group", &c.topk_group);
    f.opt("topk_method", &c.topk_method);
    f.opt("scoring_func", &c.scoring_func);
    f.opt("norm_topk_prob", &c.norm_topk_prob);
    f.opt("routed_scaling_factor", &c.routed_scaling_factor);
  }
  DSRT_RETURN_IF_ERROR(f.status());
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const json& rs = j["rope_scaling"];
    if (!rs.is_object()) return Status::Error(src + ": rope_scaling must be an object or null");
    Fields g(rs, src + " rope_scaling");
    // HF writes the kind as rope_type (newer) and/or type (older); they must agree.
    std::string legacy;
    g.opt("type", &legacy);
    g.opt("rope_type", &c.rope_scaling.type);
    if (c.rope_scaling.type.empty()) c.rope_scaling.type = legacy;
    if (!legacy.empty() && legacy != c.rope_scaling.type)
      return Status::Error(src + ": rope_scaling type '" + legacy + "' and rope_type '" +
                           c.rope_scaling.type + "' disagree");
    g.opt("factor", &c.rope_scaling.factor);
    g.opt("original_max_position_embeddings", &c.rope_scaling.original_max_position_embeddings);
    g.opt("beta_fast", &c.rope_scaling.beta_fast);
    g.opt("beta_slow", &c.rope_scaling.beta_slow);
    g.opt("mscale", &c.rope_scaling.mscale);
    g.opt("mscale_all_dim", &c.rope_scaling.mscale_all_dim);
    g.opt("low_freq_factor", &c.rope_scaling.low_freq_factor);
    g.opt("high_freq_factor", &c.rope_scaling.high_freq_factor);
    DSRT_RETURN_IF_ERROR(g.status());
    const std::string& t = c.rope_scaling.type;
    if (t == "default") c.rope_scaling.type = "";
    else if (t != "yarn" && t != "llama3" && t != "linear")
      return Status::Error(src + ": unsupported rope_scaling type '" + t +
                           "' (supported: yarn, llama3, linear)");
    if ((t == "yarn" || t == "llama3") && c.rope_scaling.original_max_position_embeddings <= 0)
      return Status::Error(src + ": rope_scaling needs original_max_position_embeddings");
    if (c.rope_scaling.factor <= 0)
      return Status::Error(src + ": rope_scaling factor must be positive");
  }
  if (j.contains("quantization_config") && j["quantization_config"].is_object()) {
    const json& q = j["quantization_config"];
    const std::string method = q.value("quant_method", "");
    if (method != "fp8")
      return Status::Error(src + ": unsupported quantization_config quant_method '" + method + "' (supported: fp8)");
    if (q.contains("weight_block_size")) {
      const json& b = q["weight_block_size"];
      if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || b[0] != b[1] ||
          b[0].get<int>() <= 0)
        return Status::Error(src + ": weight_block_size must be [B, B] with B > 0");
      c.fp8_block = b[0].get<int>();
    } else {
      c.fp8_block = 128;
    }
  }
  DSRT_RETURN_IF_ERROR(check_model_config(c, src));
  return c;
}

Result<ModelConfig> load_model_config(const std::string& path) {
  DSRT_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  return parse_model_config(text, path);
}

}  // namespace dsrt
