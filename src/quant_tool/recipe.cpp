#include "quant_tool/recipe.h"

#include <cstdio>
#include <cstring>

namespace dsrt {
namespace {

bool contains(const std::string& s, const char* p) { return s.find(p) != std::string::npos; }

// llama.cpp's "use more bits" layer pattern for the _M recipes: the first and last eighth of
// the layers, and every third layer in between.
bool use_more_bits(int layer, int n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

struct SchemeRow {
  const char* name;
  DType base;
  int32_t ftype;
  bool mixed;
};
// llama_ftype values (include/llama.h).
constexpr SchemeRow kSchemes[] = {
    {"f32", DType::F32, 0, false},      {"f16", DType::F16, 1, false},
    {"bf16", DType::BF16, 32, false},   {"q8_0", DType::Q8_0, 7, false},
    {"q4_0", DType::Q4_0, 2, false},    {"q4_1", DType::Q4_1, 3, false},
    {"q5_0", DType::Q5_0, 8, false},    {"q5_1", DType::Q5_1, 9, false},
    {"q2_k", DType::Q2_K, 10, true},    {"q3_k_m", DType::Q3_K, 12, true},
    {"q4_k_m", DType::Q4_K, 15, true},  {"q5_k_m", DType::Q5_K, 17, true},
    {"q6_k", DType::Q6_K, 18, false},
};

bool is_float_type(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

}  // namespace

const char* tensor_class_name(TensorClass c) {
  switch (c) {
    case TensorClass::TokenEmbd: return "token_embd";
    case TensorClass::Output: return "output";
    case TensorClass::AttnQ: return "attn_q";
    case TensorClass::AttnK: return "attn_k";
    case TensorClass::AttnV: return "attn_v";
    case TensorClass::AttnOutput: return "attn_output";
    case TensorClass::AttnQA: return "attn_q_a";
    case TensorClass::AttnQB: return "attn_q_b";
    case TensorClass::AttnKvA: return "attn_kv_a_mqa";
    case TensorClass::AttnKB: return "attn_k_b";
    case TensorClass::AttnVB: return "attn_v_b";
    case TensorClass::FfnGate: return "ffn_gate";
    case TensorClass::FfnUp: return "ffn_up";
    case TensorClass::FfnDown: return "ffn_down";
    case TensorClass::ExpGate: return "ffn_gate_exps";
    case TensorClass::ExpUp: return "ffn_up_exps";
    case TensorClass::ExpDown: return "ffn_down_exps";
    case TensorClass::ShexpGate: return "ffn_gate_shexp";
    case TensorClass::ShexpUp: return "ffn_up_shexp";
    case TensorClass::ShexpDown: return "ffn_down_shexp";
    case TensorClass::Router: return "ffn_gate_inp";
    case TensorClass::Vector: return "vectors (norms, biases)";
    case TensorClass::kCount: break;
  }
  return "?";
}

TensorClass classify_tensor(const std::string& n, size_t n_dims) {
  if (n_dims < 2) return TensorClass::Vector;
  if (n == "token_embd.weight") return TensorClass::TokenEmbd;
  if (n == "output.weight") return TensorClass::Output;
  struct Suffix {
    const char* s;
    TensorClass c;
  };
  // Longest names first where one contains another (ffn_gate_inp before ffn_gate).
  static constexpr Suffix kSuffixes[] = {
      {".ffn_gate_inp.weight", TensorClass::Router},
      {".ffn_gate_exps.weight", TensorClass::ExpGate},
      {".ffn_up_exps.weight", TensorClass::ExpUp},
      {".ffn_down_exps.weight", TensorClass::ExpDown},
      {".ffn_gate_shexp.weight", TensorClass::ShexpGate},
      {".ffn_up_shexp.weight", TensorClass::ShexpUp},
      {".ffn_down_shexp.weight", TensorClass::ShexpDown},
      {".ffn_gate.weight", TensorClass::FfnGate},
      {".ffn_up.weight", TensorClass::FfnUp},
      {".ffn_down.weight", TensorClass::FfnDown},
      {".attn_q_a.weight", TensorClass::AttnQA},
      {".attn_q_b.weight", TensorClass::AttnQB},
      {".attn_kv_a_mqa.weight", TensorClass::AttnKvA},
      {".attn_k_b.weight", TensorClass::AttnKB},
      {".attn_v_b.weight", TensorClass::AttnVB},
      {".attn_q.weight", TensorClass::AttnQ},
      {".attn_k.weight", TensorClass::AttnK},
      {".attn_v.weight", TensorClass::AttnV},
      {".attn_output.weight", TensorClass::AttnOutput},
  };
  for (const Suffix& s : kSuffixes) {
    const size_t l = std::strlen(s.s);
    if (n.size() >= l && n.compare(n.size() - l, l, s.s) == 0) return s.c;
  }
  return TensorClass::Vector;  // e.g. a 2-D tensor we do not know: kept F32, never quantized
}

int tensor_layer(const std::string& n) {
  int l = -1;
  if (std::sscanf(n.c_str(), "blk.%d.", &l) != 1) return -1;
  return l;
}

Result<Scheme> parse_scheme(const std::string& name) {
  for (const SchemeRow& r : kSchemes)
    if (name == r.name) return Scheme{r.name, r.base, r.ftype, r.mixed};
  std::string list;
  for (const std::string& n : scheme_names()) list += (list.empty() ? "" : ", ") + n;
  return Status::Error("unknown --type '" + name + "' (supported: " + list + ")");
}

std::vector<std::string> scheme_names() {
  std::vector<std::string> v;
  for (const SchemeRow& r : kSchemes) v.push_back(r.name);
  return v;
}

int32_t file_type_for(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::BF16: return 32;
    case DType::Q8_0: return 7;
    case DType::Q4_0: return 2;
    case DType::Q4_1: return 3;
    case DType::Q5_0: return 8;
    case DType::Q5_1: return 9;
    case DType::Q2_K: return 10;
    case DType::Q3_K: return 12;
    case DType::Q4_K: return 15;
    case DType::Q5_K: return 17;
    case DType::Q6_K: return 18;
    default: return 1024;  // LLAMA_FTYPE_GUESSED
  }
}

DType recipe_type(const Scheme& s, TensorClass c, int layer, const RecipeModel& m) {
  if (c == TensorClass::Vector || c == TensorClass::Router) return DType::F32;
  if (is_float_type(s.base)) return s.base;
  const DType base = s.base;
  // The output head (and a tied embedding, which is the head): Q6_K unless the scheme is
  // Q8_0. It is the one matrix every token's logits go through, and it is small next to the
  // body. The Q8_0 fallback for a row the 256-block does not divide is llama.cpp's too.
  if (c == TensorClass::Output || (m.tied_embeddings && c == TensorClass::TokenEmbd))
    return base == DType::Q8_0 ? DType::Q8_0 : DType::Q6_K;
  if (!s.mixed) return base;
  const int n = m.n_layer;
  const bool down = c == TensorClass::FfnDown || c == TensorClass::ExpDown || c == TensorClass::ShexpDown;
  if (c == TensorClass::AttnV) {
    // V feeds the attention output linearly and is shared by n_gqa query heads, so its error
    // weighs more per parameter than q/k's.
    if (s.name == "q2_k") return m.n_gqa >= 4 ? DType::Q4_K : DType::Q3_K;
    if (s.name == "q3_k_m") return layer < 2 ? DType::Q5_K : DType::Q4_K;
    if ((s.name == "q4_k_m" || s.name == "q5_k_m") && use_more_bits(layer, n)) return DType::Q6_K;
    return base;
  }
  if (down) {
    // ffn_down sees the widest activation range (after SiLU(gate) * up).
    if (s.name == "q2_k") return DType::Q3_K;
    if (s.name == "q3_k_m") return layer < n / 16 ? DType::Q5_K : DType::Q4_K;
    if ((s.name == "q4_k_m" || s.name == "q5_k_m") && use_more_bits(layer, n)) return DType::Q6_K;
    return base;
  }
  if (c == TensorClass::AttnOutput) {
    if (s.name == "q2_k") return DType::Q3_K;
    if (s.name == "q3_k_m") return DType::Q4_K;
  }
  return base;
}

DType fallback_type(DType want, int64_t ne0, std::string* why) {
  const int64_t bs = dtype_info(want).block_size;
  if (ne0 % bs == 0) return want;
  DType f = DType::F16;
  switch (want) {
    case DType::Q2_K:
    case DType::Q3_K: f = DType::Q4_0; break;
    case DType::Q4_K: f = DType::Q5_0; break;
    case DType::Q5_K: f = DType::Q5_1; break;
    case DType::Q6_K: f = DType::Q8_0; break;
    default: f = DType::F16; break;
  }
  if (ne0 % dtype_info(f).block_size != 0) f = DType::F16;
  if (why)
    *why = "row of " + std::to_string(ne0) + " not divisible by " + std::string(dtype_name(want)) +
           "'s block of " + std::to_string(bs) + ": " + std::string(dtype_name(f));
  return f;
}

double type_bpw(DType t) {
  const DTypeInfo& i = dtype_info(t);
  return 8.0 * i.block_bytes / i.block_size;
}

}  // namespace dsrt
