#include "models/demo.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <unistd.h>

#include "core/mmap_file.h"
#include "loaders/safetensors.h"

#ifndef DSRT_ASSETS_DIR_DEFAULT
#define DSRT_ASSETS_DIR_DEFAULT "assets"
#endif

namespace dsrt {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Normal deviates from mt19937_64 by Box-Muller, written out because std::normal_distribution
// is implementation-defined: the same seed must give the same model on every platform.
class Gaussian {
 public:
  explicit Gaussian(uint64_t seed) : rng_(seed) {}
  float next() {
    if (have_) {
      have_ = false;
      return spare_;
    }
    const double u1 = (double(rng_() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    const double u2 = double(rng_() >> 11) * 0x1.0p-53;          // [0, 1)
    const double r = std::sqrt(-2.0 * std::log(u1)), a = 2.0 * M_PI * u2;
    spare_ = float(r * std::sin(a));
    have_ = true;
    return float(r * std::cos(a));
  }

 private:
  std::mt19937_64 rng_;
  bool have_ = false;
  float spare_ = 0;
};

}  // namespace

std::string default_assets_dir() {
  if (const char* e = std::getenv("DSRT_ASSETS_DIR")) return e;
  return DSRT_ASSETS_DIR_DEFAULT;
}

std::string default_demo_dir() {
  if (const char* e = std::getenv("DSRT_DEMO_DIR")) return e;
  if (const char* x = std::getenv("XDG_CACHE_HOME")) return std::string(x) + "/dsrt/demo-v3";
  if (const char* h = std::getenv("HOME")) return std::string(h) + "/.cache/dsrt/demo-v3";
  return ".dsrt-demo-v3";
}

std::vector<std::string> demo_presets() { return {"demo", "smollm2-135m", "v2-lite-8l", "v2-lite-2048-8l"}; }

namespace {

// The DeepSeek-V3 tokenizer cut to the first `V` ids: vocab entries, merges whose parts and
// result all survive, and added tokens below V (BOS 0 and EOS 1 always do). BPE over the kept
// merges only produces kept tokens, so the result is a valid tokenizer for a V-row embedding.
Status write_restricted_tokenizer(const std::string& src, int V, const std::string& dst) {
  DSRT_ASSIGN_OR_RETURN(std::string text, read_text_file(src));
  json t = json::parse(text, nullptr, false);
  if (t.is_discarded()) return Status::Error(src + ": not valid JSON");
  json& vocab = t["model"]["vocab"];
  json kept = json::object();
  for (auto& [tok, id] : vocab.items())
    if (id.get<int>() < V) kept[tok] = id;
  json merges = json::array();
  for (const json& m : t["model"]["merges"]) {
    std::string a, b;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    }
    if (kept.contains(a) && kept.contains(b) && kept.contains(a + b)) merges.push_back(m);
  }
  vocab = kept;
  t["model"]["merges"] = merges;
  json added = json::array();
  for (const json& a : t["added_tokens"])
    if (a["id"].get<int>() < V) added.push_back(a);
  t["added_tokens"] = added;
  std::ofstream out(dst);
  out << t.dump();
  if (!out) return Status::Error("cannot write " + dst);
  return Status::Ok();
}

struct Writer {
  Gaussian g;
  DType dt;
  std::vector<std::pair<std::string, Tensor>> ts;
  void mat(const std::string& name, int64_t rows, int64_t cols) {
    Tensor t = Tensor::zeros(dt, {rows, cols}, name);
    for (int64_t i = 0; i < rows * cols; ++i) {
      const float v = 0.02f * g.next();
      if (dt == DType::F32) t.f32()[i] = v;
      else if (dt == DType::F16) t.ptr<uint16_t>()[i] = f32_to_f16(v);
      else t.ptr<uint16_t>()[i] = f32_to_bf16(v);
    }
    ts.push_back({name, t});
  }
  void vec(const std::string& name, int64_t n, DType vdt, float base, float sd) {
    Tensor t = Tensor::zeros(vdt, {n}, name);
    for (int64_t i = 0; i < n; ++i) {
      const float v = base + sd * g.next();
      if (vdt == DType::F32) t.f32()[i] = v;
      else t.ptr<uint16_t>()[i] = f32_to_bf16(v);
    }
    ts.push_back({name, t});
  }
  void norm(const std::string& name, int64_t n) { vec(name, n, DType::BF16, 1.0f, 0.1f); }
  void mlp(const std::string& p, int64_t D, int64_t F) {
    mat(p + "gate_proj.weight", F, D);
    mat(p + "up_proj.weight", F, D);
    mat(p + "down_proj.weight", D, F);
  }
};

struct DeepSeekShape {
  bool v3;
  int D, L, H, V, q_lora, r, nope, rope, vd, E, top_k, shared, F, Fe, n_group, topk_group;
};

json deepseek_config(const DeepSeekShape& s, const std::string& torch_dtype) {
  json c = {{"architectures", {s.v3 ? "DeepseekV3ForCausalLM" : "DeepseekV2ForCausalLM"}},
            {"model_type", s.v3 ? "deepseek_v3" : "deepseek_v2"},
            {"vocab_size", s.V}, {"hidden_size", s.D}, {"intermediate_size", s.F},
            {"moe_intermediate_size", s.Fe}, {"num_hidden_layers", s.L},
            {"num_attention_heads", s.H}, {"num_key_value_heads", s.H},
            {"n_routed_experts", s.E}, {"n_shared_experts", s.shared},
            {"num_experts_per_tok", s.top_k}, {"first_k_dense_replace", 1}, {"moe_layer_freq", 1},
            {"q_lora_rank", s.q_lora > 0 ? json(s.q_lora) : json(nullptr)},
            {"kv_lora_rank", s.r}, {"qk_nope_head_dim", s.nope}, {"qk_rope_head_dim", s.rope},
            {"v_head_dim", s.vd}, {"n_group", s.n_group}, {"topk_group", s.topk_group},
            {"topk_method", s.v3 ? "noaux_tc" : "greedy"},
            {"scoring_func", s.v3 ? "sigmoid" : "softmax"}, {"norm_topk_prob", s.v3},
            {"routed_scaling_factor", s.v3 ? 2.5 : 1.0}, {"hidden_act", "silu"},
            {"rope_theta", 10000.0},
            // DeepSeek-V2-Lite / V3 both use YaRN over a 4096-token original context.
            {"rope_scaling",
             {{"type", "yarn"}, {"factor", 40.0}, {"original_max_position_embeddings", 4096},
              {"beta_fast", 32}, {"beta_slow", 1},
              {"mscale", s.v3 ? 1.0 : 0.707}, {"mscale_all_dim", s.v3 ? 1.0 : 0.707}}},
            {"rms_norm_eps", 1e-6}, {"max_position_embeddings", 163840},
            {"tie_word_embeddings", false}, {"torch_dtype", torch_dtype},
            {"bos_token_id", 0}, {"eos_token_id", 1},
            {"dsrt_note", "random weights (dsrt make-demo); replace with a trained checkpoint"}};
  return c;
}

void deepseek_weights(Writer& w, const DeepSeekShape& s) {
  w.mat("model.embed_tokens.weight", s.V, s.D);
  for (int l = 0; l < s.L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    w.norm(p + "input_layernorm.weight", s.D);
    w.norm(p + "post_attention_layernorm.weight", s.D);
    if (s.q_lora > 0) {
      w.mat(p + "self_attn.q_a_proj.weight", s.q_lora, s.D);
      w.norm(p + "self_attn.q_a_layernorm.weight", s.q_lora);
      w.mat(p + "self_attn.q_b_proj.weight", s.H * (s.nope + s.rope), s.q_lora);
    } else {
      w.mat(p + "self_attn.q_proj.weight", s.H * (s.nope + s.rope), s.D);
    }
    w.mat(p + "self_attn.kv_a_proj_with_mqa.weight", s.r + s.rope, s.D);
    w.norm(p + "self_attn.kv_a_layernorm.weight", s.r);
    w.mat(p + "self_attn.kv_b_proj.weight", s.H * (s.nope + s.vd), s.r);
    w.mat(p + "self_attn.o_proj.weight", s.D, s.H * s.vd);
    if (l == 0) {
      w.mlp(p + "mlp.", s.D, s.F);
    } else {
      w.mat(p + "mlp.gate.weight", s.E, s.D);
      if (s.v3) w.vec(p + "mlp.gate.e_score_correction_bias", s.E, DType::F32, 0.0f, 0.02f);
      for (int e = 0; e < s.E; ++e) w.mlp(p + "mlp.experts." + std::to_string(e) + ".", s.D, s.Fe);
      w.mlp(p + "mlp.shared_experts.", s.D, int64_t(s.shared) * s.Fe);
    }
  }
  w.norm("model.norm.weight", s.D);
  w.mat("lm_head.weight", s.V, s.D);
}

}  // namespace

Status write_demo_model(const std::string& out_dir, const std::string& assets, const DemoOptions& o) {
  const std::string tok_dir = assets + "/tokenizer/deepseek_v3";
  if (!fs::exists(tok_dir + "/tokenizer.json"))
    return Status::Error("the demo model needs the vendored tokenizer at " + tok_dir +
                         " (set DSRT_ASSETS_DIR to the repository's assets/ folder)");
  DType dt;
  std::string torch_dtype;
  if (o.dtype == "bf16") dt = DType::BF16, torch_dtype = "bfloat16";
  else if (o.dtype == "f16") dt = DType::F16, torch_dtype = "float16";
  else if (o.dtype == "f32") dt = DType::F32, torch_dtype = "float32";
  else return Status::Error("unknown demo dtype '" + o.dtype + "' (bf16, f16, f32)");
  Writer w{Gaussian(o.seed), dt, {}};
  json c;
  int V;
  if (o.preset == "demo") {
    const DeepSeekShape s{true, 256, 4, 8, 129280, 128, 64, 32, 16, 32, 16, 4, 1, 512, 64, 4, 2};
    c = deepseek_config(s, torch_dtype);
    deepseek_weights(w, s);
    V = s.V;
  } else if (o.preset == "v2-lite-8l" || o.preset == "v2-lite-2048-8l") {
    const bool big = o.preset == "v2-lite-2048-8l";
    const DeepSeekShape s{false, big ? 2048 : 1024, 8, 16, big ? 102400 : 32000, 0, 512, 128, 64, 128,
                          64, 6, 2, big ? 10944 : 2816, big ? 1408 : 352, 1, 1};
    c = deepseek_config(s, torch_dtype);
    deepseek_weights(w, s);
    V = s.V;
  } else if (o.preset == "smollm2-135m") {
    const int D = 576, L = 30, H = 9, KV = 3, hd = 64, F = 1536;
    V = 49152;
    c = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", V},
         {"hidden_size", D}, {"intermediate_size", F}, {"num_hidden_layers", L},
         {"num_attention_heads", H}, {"num_key_value_heads", KV}, {"head_dim", hd},
         {"rms_norm_eps", 1e-5}, {"rope_theta", 100000.0}, {"max_position_embeddings", 8192},
         {"tie_word_embeddings", true}, {"torch_dtype", torch_dtype}, {"bos_token_id", 0},
         {"eos_token_id", 1}, {"hidden_act", "silu"},
         {"dsrt_note", "random weights in SmolLM2-135M's shape (dsrt make-demo)"}};
    w.mat("model.embed_tokens.weight", V, D);
    for (int l = 0; l < L; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      w.norm(p + "input_layernorm.weight", D);
      w.norm(p + "post_attention_layernorm.weight", D);
      w.mat(p + "self_attn.q_proj.weight", H * hd, D);
      w.mat(p + "self_attn.k_proj.weight", KV * hd, D);
      w.mat(p + "self_attn.v_proj.weight", KV * hd, D);
      w.mat(p + "self_attn.o_proj.weight", D, H * hd);
      w.mlp(p + "mlp.", D, F);
    }
    w.norm("model.norm.weight", D);
  } else {
    std::string names;
    for (const auto& n : demo_presets()) names += (names.empty() ? "" : ", ") + n;
    return Status::Error("unknown preset '" + o.preset + "' (" + names + ")");
  }

  std::error_code ec;
  const std::string tmp = out_dir + ".tmp." + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return Status::Error("cannot create " + tmp + ": " + ec.message());
  {
    std::ofstream cf(tmp + "/config.json");
    cf << c.dump(2) << "\n";
    if (!cf) return Status::Error("cannot write " + tmp + "/config.json");
  }
  DSRT_RETURN_IF_ERROR(write_safetensors(tmp + "/model.safetensors", w.ts));
  w.ts.clear();
  for (const char* f : {"tokenizer_config.json", "LICENSE-MODEL", "LICENSE-CODE"}) {
    fs::copy_file(tok_dir + "/" + f, tmp + "/" + f, fs::copy_options::overwrite_existing, ec);
    if (ec) return Status::Error("cannot copy " + tok_dir + "/" + f + ": " + ec.message());
  }
  if (V >= 128815) {
    fs::copy_file(tok_dir + "/tokenizer.json", tmp + "/tokenizer.json", fs::copy_options::overwrite_existing, ec);
    if (ec) return Status::Error("cannot copy the tokenizer: " + ec.message());
  } else {
    DSRT_RETURN_IF_ERROR(write_restricted_tokenizer(tok_dir + "/tokenizer.json", V, tmp + "/tokenizer.json"));
  }
  fs::remove_all(out_dir, ec);
  if (fs::path(out_dir).has_parent_path()) fs::create_directories(fs::path(out_dir).parent_path(), ec);
  fs::rename(tmp, out_dir, ec);
  if (ec) return Status::Error("cannot move " + tmp + " to " + out_dir + ": " + ec.message());
  return Status::Ok();
}

}  // namespace dsrt
