#include "quant_tool/gguf_meta.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "core/mmap_file.h"
#include "tokenizer/gguf_pre.h"
#include "tokenizer/tokenizer.h"

namespace dsrt {
namespace {

class KvList {
 public:
  explicit KvList(std::string arch) : arch_(std::move(arch)) {}
  void u32(const char* k, int64_t v) { kvs.push_back({arch_ + "." + k, GgufValue::make_u32(uint32_t(v))}); }
  void f32(const char* k, float v) { kvs.push_back({arch_ + "." + k, GgufValue::make_f32(v)}); }
  void b(const char* k, bool v) { kvs.push_back({arch_ + "." + k, GgufValue::make_bool(v)}); }
  void str(const char* k, std::string v) {
    kvs.push_back({arch_ + "." + k, GgufValue::make_string(std::move(v))});
  }
  GgufKvs kvs;

 private:
  std::string arch_;
};

Status rope_scaling_kvs(const ModelConfig& c, KvList& k) {
  const RopeScaling& rs = c.rope_scaling;
  if (rs.type.empty() || rs.type == "llama3") return Status::Ok();  // llama3: rope_freqs tensor
  if (rs.type == "linear") {
    k.str("rope.scaling.type", "linear");
    k.f32("rope.scaling.factor", rs.factor);
    return Status::Ok();
  }
  if (rs.type != "yarn")
    return Status::Error("rope_scaling type '" + rs.type + "' has no GGUF form (supported: yarn, linear, llama3)");
  if (c.is_deepseek() && rs.mscale != rs.mscale_all_dim)
    return Status::Error("DeepSeek YaRN with mscale (" + std::to_string(rs.mscale) + ") != mscale_all_dim (" +
                         std::to_string(rs.mscale_all_dim) +
                         ") cannot be written to GGUF: llama.cpp has a key only for mscale_all_dim");
  if (!c.is_deepseek() && !(rs.mscale == 1.0f && rs.mscale_all_dim == 0.0f))
    return Status::Error("a dense-model YaRN with mscale/mscale_all_dim set has no GGUF form");
  k.str("rope.scaling.type", "yarn");
  k.f32("rope.scaling.factor", rs.factor);
  k.u32("rope.scaling.original_context_length", rs.original_max_position_embeddings);
  k.f32("rope.scaling.yarn_beta_fast", rs.beta_fast);
  k.f32("rope.scaling.yarn_beta_slow", rs.beta_slow);
  // llama.cpp's converter writes 0.1 * mscale_all_dim and divides by 0.1 on load (see
  // model_config_gguf.cpp).
  if (c.is_deepseek()) k.f32("rope.scaling.yarn_log_multiplier", 0.1f * rs.mscale_all_dim);
  return Status::Ok();
}

// The regex patterns of a tokenizer.json pre_tokenizer (Split with a Regex pattern, possibly
// inside a Sequence), in order.
void collect_regexes(const nlohmann::json& j, std::vector<std::string>* out) {
  if (j.is_object()) {
    if (j.contains("pattern") && j["pattern"].is_object() && j["pattern"].contains("Regex") &&
        j["pattern"]["Regex"].is_string())
      out->push_back(j["pattern"]["Regex"].get<std::string>());
    if (j.contains("pretokenizers")) collect_regexes(j["pretokenizers"], out);
  } else if (j.is_array()) {
    for (const auto& e : j) collect_regexes(e, out);
  }
}

std::string pre_name_for(const nlohmann::json& tj, const ModelConfig& c) {
  std::vector<std::string> want;
  if (tj.contains("pre_tokenizer")) collect_regexes(tj["pre_tokenizer"], &want);
  for (const std::string& name : gguf_pre_names()) {
    Result<std::vector<std::string>> r = gguf_pre_regexes(name);
    if (r.ok() && !want.empty() && r.value() == want) return name;
  }
  // No exact match: the name llama.cpp's converter would pick for this family.
  switch (c.arch) {
    case Arch::DeepSeekV3: return "deepseek-v3";
    case Arch::DeepSeekV2: return "deepseek-llm";
    case Arch::Qwen2: return "qwen2";
    case Arch::Llama: return "llama-bpe";
  }
  return "default";
}

}  // namespace

const char* gguf_arch_name(const ModelConfig& c) {
  if (c.is_deepseek()) return "deepseek2";
  return c.arch == Arch::Llama ? "llama" : "qwen2";
}

Result<GgufKvs> model_kvs(const ModelConfig& c, const std::string& name, int32_t file_type) {
  const std::string arch = gguf_arch_name(c);
  KvList k(arch);
  k.kvs.push_back({"general.architecture", GgufValue::make_string(arch)});
  k.kvs.push_back({"general.type", GgufValue::make_string("model")});
  k.kvs.push_back({"general.name", GgufValue::make_string(name)});
  k.u32("block_count", c.num_hidden_layers);
  k.u32("context_length", c.max_position_embeddings);
  k.u32("embedding_length", c.hidden_size);
  k.u32("feed_forward_length", c.intermediate_size);
  k.u32("attention.head_count", c.num_attention_heads);
  // MLA is stored as MQA: one latent KV head (llama.cpp's absorbed view).
  k.u32("attention.head_count_kv", c.is_deepseek() ? 1 : c.num_key_value_heads);
  k.f32("rope.freq_base", c.rope_theta);
  k.f32("attention.layer_norm_rms_epsilon", c.rms_norm_eps);
  k.u32("vocab_size", c.vocab_size);
  if (c.is_deepseek()) {
    if (c.moe_layer_freq != 1)
      return Status::Error("moe_layer_freq " + std::to_string(c.moe_layer_freq) +
                           " has no GGUF key (llama.cpp assumes 1)");
    k.u32("leading_dense_block_count", c.first_k_dense_replace);
    k.u32("attention.q_lora_rank", c.q_lora_rank);  // 0 = V2-Lite's plain q_proj
    k.u32("attention.kv_lora_rank", c.kv_lora_rank);
    k.u32("attention.key_length", c.kv_lora_rank + c.qk_rope_head_dim);
    k.u32("attention.value_length", c.kv_lora_rank);
    k.u32("attention.key_length_mla", c.qk_nope_head_dim + c.qk_rope_head_dim);
    k.u32("attention.value_length_mla", c.v_head_dim);
    k.u32("rope.dimension_count", c.qk_rope_head_dim);
    if (c.n_routed_experts > 0) {
      k.u32("expert_count", c.n_routed_experts);
      k.u32("expert_used_count", c.num_experts_per_tok);
      k.u32("expert_shared_count", c.n_shared_experts);
      k.u32("expert_feed_forward_length", c.moe_intermediate_size);
      k.u32("expert_group_count", c.n_group);
      k.u32("expert_group_used_count", c.topk_group);
      k.f32("expert_weights_scale", c.routed_scaling_factor);
      k.b("expert_weights_norm", c.norm_topk_prob);
      // llama.cpp: 1 softmax, 2 sigmoid (DeepSeek-V3's noaux_tc).
      k.u32("expert_gating_func", c.scoring_func == "sigmoid" ? 2 : 1);
    }
  } else {
    if (c.head_dim != c.hidden_size / c.num_attention_heads) {
      k.u32("attention.key_length", c.head_dim);
      k.u32("attention.value_length", c.head_dim);
    }
    if (c.arch == Arch::Llama) k.u32("rope.dimension_count", c.head_dim);
  }
  DSRT_RETURN_IF_ERROR(rope_scaling_kvs(c, k));
  k.kvs.push_back({"general.file_type", GgufValue::make_u32(uint32_t(file_type))});
  k.kvs.push_back({"general.quantization_version", GgufValue::make_u32(2)});
  return std::move(k.kvs);
}

Result<GgufKvs> tokenizer_kvs_from_hf(const std::string& dir, const ModelConfig& c) {
  const std::string path = dir + "/tokenizer.json";
  DSRT_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  nlohmann::json tj = nlohmann::json::parse(text, nullptr, false);
  if (tj.is_discarded() || !tj.is_object()) return Status::Error(path + ": not valid JSON");
  if (!tj.contains("model") || !tj["model"].is_object() || tj["model"].value("type", "") != "BPE")
    return Status::Error(path + ": only byte-level BPE tokenizers can be written to GGUF");
  const nlohmann::json& model = tj["model"];
  if (!model.contains("vocab") || !model["vocab"].is_object())
    return Status::Error(path + ": model.vocab missing");
  std::map<int64_t, std::string> by_id;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    if (!it.value().is_number_integer()) return Status::Error(path + ": vocab id of '" + it.key() + "' is not an integer");
    by_id[it.value().get<int64_t>()] = it.key();
  }
  std::map<int64_t, int32_t> types;
  if (tj.contains("added_tokens") && tj["added_tokens"].is_array())
    for (const auto& a : tj["added_tokens"]) {
      if (!a.contains("id") || !a.contains("content")) continue;
      const int64_t id = a["id"].get<int64_t>();
      by_id[id] = a["content"].get<std::string>();
      types[id] = a.value("special", false) ? int32_t(GgufTokenType::kControl)
                                            : int32_t(GgufTokenType::kUserDefined);
    }
  if (by_id.empty() || by_id.begin()->first < 0) return Status::Error(path + ": empty or negative vocabulary");
  const int64_t n_tok = std::max<int64_t>(by_id.rbegin()->first + 1, c.vocab_size);
  if (n_tok > c.vocab_size)
    return Status::Error(path + ": " + std::to_string(n_tok) + " tokens do not fit the model's vocab_size " +
                         std::to_string(c.vocab_size));
  std::vector<std::string> tokens(static_cast<size_t>(n_tok));
  std::vector<int32_t> tt(static_cast<size_t>(n_tok), int32_t(GgufTokenType::kNormal));
  for (int64_t i = 0; i < n_tok; ++i) {
    auto it = by_id.find(i);
    if (it == by_id.end()) {
      // llama.cpp's converter fills holes (and the padding up to vocab_size) the same way.
      tokens[size_t(i)] = "[PAD" + std::to_string(i) + "]";
      tt[size_t(i)] = int32_t(GgufTokenType::kUnused);
    } else {
      tokens[size_t(i)] = it->second;
      if (auto t = types.find(i); t != types.end()) tt[size_t(i)] = t->second;
    }
  }
  std::vector<std::string> merges;
  if (model.contains("merges") && model["merges"].is_array())
    for (const auto& m : model["merges"]) {
      if (m.is_string()) {
        merges.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      } else {
        return Status::Error(path + ": a merge is neither \"a b\" nor [\"a\", \"b\"]");
      }
    }
  DSRT_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::from_dir(dir));
  GgufKvs kv;
  kv.push_back({"tokenizer.ggml.model", GgufValue::make_string("gpt2")});
  kv.push_back({"tokenizer.ggml.pre", GgufValue::make_string(pre_name_for(tj, c))});
  kv.push_back({"tokenizer.ggml.tokens", GgufValue::make_string_array(std::move(tokens))});
  kv.push_back({"tokenizer.ggml.token_type", GgufValue::make_i32_array(tt)});
  kv.push_back({"tokenizer.ggml.merges", GgufValue::make_string_array(std::move(merges))});
  if (tok.bos_id() >= 0) kv.push_back({"tokenizer.ggml.bos_token_id", GgufValue::make_u32(uint32_t(tok.bos_id()))});
  if (tok.eos_id() >= 0) kv.push_back({"tokenizer.ggml.eos_token_id", GgufValue::make_u32(uint32_t(tok.eos_id()))});
  kv.push_back({"tokenizer.ggml.add_bos_token", GgufValue::make_bool(tok.add_bos_default())});
  if (!tok.chat_template().empty())
    kv.push_back({"tokenizer.chat_template", GgufValue::make_string(tok.chat_template())});
  return kv;
}

GgufKvs tokenizer_kvs_from_gguf(const GgufFile& f) {
  GgufKvs kv;
  for (const auto& [k, v] : f.kvs())
    if (k.rfind("tokenizer.", 0) == 0) kv.push_back({k, v});
  return kv;
}

int64_t tokenizer_kvs_vocab(const GgufKvs& kvs) {
  for (const auto& [k, v] : kvs)
    if (k == "tokenizer.ggml.tokens" && v.type == GgufType::ARRAY) return int64_t(v.count);
  return -1;
}

}  // namespace dsrt
