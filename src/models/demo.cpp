#include "models/demo.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <unistd.h>

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

Status write_demo_model(const std::string& out_dir, const std::string& assets, const DemoOptions& o) {
  const std::string tok_dir = assets + "/tokenizer/deepseek_v3";
  if (!fs::exists(tok_dir + "/tokenizer.json"))
    return Status::Error("the demo model needs the vendored tokenizer at " + tok_dir +
                         " (set DSRT_ASSETS_DIR to the repository's assets/ folder)");
  const int D = o.hidden_size, L = o.num_hidden_layers, H = 8, V = 129280;
  const int q_lora = 128, r = 64, nope = 32, rope = 16, vd = 32, E = 16, F = 512, Fe = 64;
  json c = {{"architectures", {"DeepseekV3ForCausalLM"}},
            {"model_type", "deepseek_v3"},
            {"vocab_size", V},
            {"hidden_size", D},
            {"intermediate_size", F},
            {"moe_intermediate_size", Fe},
            {"num_hidden_layers", L},
            {"num_attention_heads", H},
            {"num_key_value_heads", H},
            {"n_routed_experts", E},
            {"n_shared_experts", 1},
            {"num_experts_per_tok", 4},
            {"first_k_dense_replace", 1},
            {"moe_layer_freq", 1},
            {"q_lora_rank", q_lora},
            {"kv_lora_rank", r},
            {"qk_nope_head_dim", nope},
            {"qk_rope_head_dim", rope},
            {"v_head_dim", vd},
            {"n_group", 4},
            {"topk_group", 2},
            {"topk_method", "noaux_tc"},
            {"scoring_func", "sigmoid"},
            {"norm_topk_prob", true},
            {"routed_scaling_factor", 2.5},
            {"hidden_act", "silu"},
            {"rope_theta", 10000.0},
            {"rope_scaling",
             {{"type", "yarn"}, {"factor", 40.0}, {"original_max_position_embeddings", 4096},
              {"beta_fast", 32}, {"beta_slow", 1}, {"mscale", 1.0}, {"mscale_all_dim", 1.0}}},
            {"rms_norm_eps", 1e-6},
            {"max_position_embeddings", 163840},
            {"tie_word_embeddings", false},
            {"torch_dtype", "bfloat16"},
            {"bos_token_id", 0},
            {"eos_token_id", 1},
            {"dsrt_note", "random weights (dsrt make-demo); replace with a trained checkpoint"}};
  Gaussian g(o.seed);
  std::vector<std::pair<std::string, Tensor>> ts;
  auto mat = [&](const std::string& name, int64_t rows, int64_t cols) {
    Tensor t = Tensor::zeros(DType::BF16, {rows, cols}, name);
    for (int64_t i = 0; i < rows * cols; ++i) t.ptr<uint16_t>()[i] = f32_to_bf16(0.02f * g.next());
    ts.push_back({name, t});
  };
  auto vec = [&](const std::string& name, int64_t n, DType dt, float base, float sd) {
    Tensor t = Tensor::zeros(dt, {n}, name);
    for (int64_t i = 0; i < n; ++i) {
      const float v = base + sd * g.next();
      if (dt == DType::F32) t.f32()[i] = v;
      else t.ptr<uint16_t>()[i] = f32_to_bf16(v);
    }
    ts.push_back({name, t});
  };
  mat("model.embed_tokens.weight", V, D);
  for (int l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    vec(p + "input_layernorm.weight", D, DType::BF16, 1.0f, 0.1f);
    vec(p + "post_attention_layernorm.weight", D, DType::BF16, 1.0f, 0.1f);
    mat(p + "self_attn.q_a_proj.weight", q_lora, D);
    vec(p + "self_attn.q_a_layernorm.weight", q_lora, DType::BF16, 1.0f, 0.1f);
    mat(p + "self_attn.q_b_proj.weight", H * (nope + rope), q_lora);
    mat(p + "self_attn.kv_a_proj_with_mqa.weight", r + rope, D);
    vec(p + "self_attn.kv_a_layernorm.weight", r, DType::BF16, 1.0f, 0.1f);
    mat(p + "self_attn.kv_b_proj.weight", H * (nope + vd), r);
    mat(p + "self_attn.o_proj.weight", D, H * vd);
    if (l == 0) {
      mat(p + "mlp.gate_proj.weight", F, D);
      mat(p + "mlp.up_proj.weight", F, D);
      mat(p + "mlp.down_proj.weight", D, F);
    } else {
      mat(p + "mlp.gate.weight", E, D);
      vec(p + "mlp.gate.e_score_correction_bias", E, DType::F32, 0.0f, 0.02f);
      for (int e = 0; e < E; ++e) {
        const std::string ep = p + "mlp.experts." + std::to_string(e) + ".";
        mat(ep + "gate_proj.weight", Fe, D);
        mat(ep + "up_proj.weight", Fe, D);
        mat(ep + "down_proj.weight", D, Fe);
      }
      mat(p + "mlp.shared_experts.gate_proj.weight", Fe, D);
      mat(p + "mlp.shared_experts.up_proj.weight", Fe, D);
      mat(p + "mlp.shared_experts.down_proj.weight", D, Fe);
    }
  }
  vec("model.norm.weight", D, DType::BF16, 1.0f, 0.1f);
  mat("lm_head.weight", V, D);

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
  DSRT_RETURN_IF_ERROR(write_safetensors(tmp + "/model.safetensors", ts));
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "LICENSE-MODEL", "LICENSE-CODE"}) {
    fs::copy_file(tok_dir + "/" + f, tmp + "/" + f, fs::copy_options::overwrite_existing, ec);
    if (ec) return Status::Error("cannot copy " + tok_dir + "/" + f + ": " + ec.message());
  }
  fs::remove_all(out_dir, ec);
  fs::create_directories(fs::path(out_dir).parent_path(), ec);
  fs::rename(tmp, out_dir, ec);
  if (ec) return Status::Error("cannot move " + tmp + " to " + out_dir + ": " + ec.message());
  return Status::Ok();
}

}  // namespace dsrt
