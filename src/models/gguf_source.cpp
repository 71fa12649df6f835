#include "models/gguf_source.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>
#include <vector>

namespace dsrt {
namespace {

// Per-layer names: HF suffix after "model.layers.N." -> llama.cpp's after "blk.N.".
constexpr std::pair<const char*, const char*> kLayerNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_a_proj.weight", "attn_q_a.weight"},
    {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight"},
    {"self_attn.q_b_proj.weight", "attn_q_b.weight"},
    {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight"},
    {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight"},
    {"self_attn.kv_b_proj.weight", "attn_kv_b.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"mlp.gate.weight", "ffn_gate_inp.weight"},
    {"mlp.gate.e_score_correction_bias", "exp_probs_b.bias"},
    {"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight"},
    {"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight"},
    {"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight"},
};

constexpr std::pair<const char*, const char*> kGlobalNames[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

bool starts_with(const std::string& s, const char* p, size_t* n) {
  *n = std::strlen(p);
  return s.compare(0, *n, p) == 0;
}

// Parses a non-negative decimal at s[pos..] up to the next '.'; advances pos past the dot.
bool parse_index(const std::string& s, size_t* pos, int64_t* out) {
  const size_t dot = s.find('.', *pos);
  if (dot == std::string::npos || dot == *pos) return false;
  auto [p, ec] = std::from_chars(s.data() + *pos, s.data() + dot, *out);
  if (ec != std::errc() || p != s.data() + dot || *out < 0) return false;
  *pos = dot + 1;
  return true;
}

struct LayerName {
  int64_t layer = -1;
  std::string rest;  // after "model.layers.N."
};

std::optional<LayerName> split_layer(const std::string& hf) {
  size_t n;
  if (!starts_with(hf, "model.layers.", &n)) return std::nullopt;
  LayerName ln;
  if (!parse_index(hf, &n, &ln.layer)) return std::nullopt;
  ln.rest = hf.substr(n);
  return ln;
}

// "mlp.experts.E.gate_proj.weight" -> (E, "ffn_gate_exps.weight").
std::optional<std::pair<int64_t, std::string>> split_expert(const std::string& rest) {
  size_t n;
  if (!starts_with(rest, "mlp.experts.", &n)) return std::nullopt;
  int64_t e;
  if (!parse_index(rest, &n, &e)) return std::nullopt;
  const std::string proj = rest.substr(n);
  if (proj == "gate_proj.weight") return std::make_pair(e, std::string("ffn_gate_exps.weight"));
  if (proj == "up_proj.weight") return std::make_pair(e, std::string("ffn_up_exps.weight"));
  if (proj == "down_proj.weight") return std::make_pair(e, std::string("ffn_down_exps.weight"));
  return std::nullopt;
}

std::string blk(int64_t layer, const std::string& suffix) {
  return "blk." + std::to_string(layer) + "." + suffix;
}

}  // namespace

std::optional<std::string> gguf_tensor_name(const std::string& hf) {
  for (const auto& [h, g] : kGlobalNames)
    if (hf == h) return std::string(g);
  const std::optional<LayerName> ln = split_layer(hf);
  if (!ln) return std::nullopt;
  for (const auto& [h, g] : kLayerNames)
    if (ln->rest == h) return blk(ln->layer, g);
  return std::nullopt;
}

std::vector<std::string> gguf_mappable_hf_names(int n_layers) {
  std::vector<std::string> out;
  for (const auto& [h, g] : kGlobalNames) out.push_back(h);
  for (int l = 0; l < n_layers; ++l)
    for (const auto& [h, g] : kLayerNames)
      out.push_back("model.layers." + std::to_string(l) + "." + h);
  return out;
}

std::optional<std::pair<int64_t, std::string>> gguf_expert_tensor_name(const std::string& hf) {
  const std::optional<LayerName> ln = split_layer(hf);
  if (!ln) return std::nullopt;
  auto ex = split_expert(ln->rest);
  if (!ex) return std::nullopt;
  return std::make_pair(ex->first, blk(ln->layer, ex->second));
}

bool GgufSource::has(const std::string& hf) const {
  if (std::optional<std::string> g = gguf_tensor_name(hf)) {
    if (f_->find_tensor(*g)) return true;
  }
  const std::optional<LayerName> ln = split_layer(hf);
  if (!ln) return false;
  if (ln->rest == "self_attn.kv_b_proj.weight")
    return f_->find_tensor(blk(ln->layer, "attn_k_b.weight")) &&
           f_->find_tensor(blk(ln->layer, "attn_v_b.weight"));
  if (ln->rest == kSplitKb) return f_->find_tensor(blk(ln->layer, "attn_k_b.weight")) != nullptr;
  if (ln->rest == kSplitVb) return f_->find_tensor(blk(ln->layer, "attn_v_b.weight")) != nullptr;
  if (auto ex = split_expert(ln->rest)) {
    const GgufTensorInfo* t = f_->find_tensor(blk(ln->layer, ex->second));
    return t && t->shape.size() == 3 && ex->first < t->shape[0];
  }
  return false;
}

std::string GgufSource::file_name(const std::string& hf) const {
  if (std::optional<std::string> g = gguf_tensor_name(hf)) {
    const std::optional<LayerName> ln = split_layer(hf);
    if (ln && ln->rest == "self_attn.kv_b_proj.weight" && !f_->find_tensor(*g))
      return blk(ln->layer, "attn_k_b.weight") + " + " + blk(ln->layer, "attn_v_b.weight") +
             " (HF " + hf + ")";
    return *g + " (HF " + hf + ")";
  }
  if (const std::optional<LayerName> ln = split_layer(hf)) {
    if (auto ex = split_expert(ln->rest))
      return blk(ln->layer, ex->second) + "[" + std::to_string(ex->first) + "] (HF " + hf + ")";
    if (ln->rest == kSplitKb || ln->rest == kSplitVb)
      return blk(ln->layer, ln->rest == kSplitKb ? "attn_k_b.weight" : "attn_v_b.weight") +
             " (as " + hf + ")";
  }
  return hf;
}

Result<Tensor> GgufSource::get(const std::string& hf) const {
  const std::optional<LayerName> ln = split_layer(hf);
  if (ln && ln->rest == "self_attn.kv_b_proj.weight" &&
      !f_->find_tensor(blk(ln->layer, "attn_kv_b.weight")))
    return kv_b(int(ln->layer));
  if (std::optional<std::string> g = gguf_tensor_name(hf)) {
    if (!f_->find_tensor(*g))
      return Status::Error(f_->path() + ": no tensor '" + *g + "' (HF " + hf + ")");
    return f_->tensor(*g);
  }
  if (ln) {
    if (auto ex = split_expert(ln->rest)) return expert(blk(ln->layer, ex->second), ex->first);
    if (ln->rest == kSplitKb || ln->rest == kSplitVb) return split_half(ln->layer, ln->rest == kSplitKb);
  }
  return Status::Error(f_->path() + ": no GGUF tensor name is known for HF tensor '" + hf + "'");
}

Result<Tensor> GgufSource::expert(const std::string& name, int64_t e) const {
  if (!f_->find_tensor(name)) return Status::Error(f_->path() + ": no tensor '" + name + "'");
  DSRT_ASSIGN_OR_RETURN(Tensor t, f_->tensor(name));
  if (t.shape.size() != 3)
    return Status::Error(f_->path() + ": tensor '" + name + "' has shape " + t.shape_str() +
                         ", expected [n_expert, out, in]");
  if (e >= t.shape[0])
    return Status::Error(f_->path() + ": tensor '" + name + "' holds " +
                         std::to_string(t.shape[0]) + " experts, expert " + std::to_string(e) +
                         " was asked for");
  // Experts are stacked outermost, so expert e is one contiguous [out, in] block.
  Tensor v = t.slice_rows(e, 1).reshaped({t.shape[1], t.shape[2]});  // {out, in}
  v.name = name + "[" + std::to_string(e) + "]";
  return v;
}

Result<Tensor> GgufSource::split_half(int64_t layer, bool k) const {
  const std::string name = blk(layer, k ? "attn_k_b.weight" : "attn_v_b.weight");
  if (!f_->find_tensor(name)) return Status::Error(f_->path() + ": no tensor '" + name + "'");
  DSRT_ASSIGN_OR_RETURN(Tensor t, f_->tensor(name));
  if (t.shape.size() != 3)
    return Status::Error(f_->path() + ": tensor '" + name + "' has shape " + t.shape_str() +
                         (k ? ", expected [H, kv_lora_rank, qk_nope]" : ", expected [H, v_head_dim, kv_lora_rank]"));
  // Heads are stacked outermost: one [H * rows, cols] matrix whose row blocks are the heads.
  Tensor v = t.reshaped({t.shape[0] * t.shape[1], t.shape[2]});
  v.name = name;
  return v;
}

Result<Tensor> GgufSource::kv_b(int layer) const {
  const std::string kn = blk(layer, "attn_k_b.weight"), vn = blk(layer, "attn_v_b.weight");
  for (const std::string& n : {kn, vn})
    if (!f_->find_tensor(n))
      return Status::Error(f_->path() + ": no tensor '" + blk(layer, "attn_kv_b.weight") +
                           "' nor '" + n + "' (HF model.layers." + std::to_string(layer) +
                           ".self_attn.kv_b_proj.weight)");
  DSRT_ASSIGN_OR_RETURN(Tensor kb, f_->tensor(kn));  // {H, kv_lora_rank, qk_nope}
  DSRT_ASSIGN_OR_RETURN(Tensor vb, f_->tensor(vn));  // {H, v_head_dim, kv_lora_rank}
  if (kb.shape.size() != 3 || vb.shape.size() != 3 || kb.shape[0] != vb.shape[0] ||
      kb.shape[1] != vb.shape[2])
    return Status::Error(f_->path() + ": tensors '" + kn + "' " + kb.shape_str() + " and '" + vn +
                         "' " + vb.shape_str() +
                         " do not form an MLA kv_b ([H, r, nope] and [H, v, r])");
  for (const Tensor* t : {&kb, &vb})
    if (!weight_dtype_supported(t->dtype))
      return Status::Error(f_->path() + ": tensor '" + t->name + "' has unsupported dtype " +
                           std::string(dtype_name(t->dtype)));
  const int64_t H = kb.shape[0], r = kb.shape[1], nope = kb.shape[2], vd = vb.shape[1];
  const int64_t row = nope + vd;
  // HF layout: head h owns rows h*(nope+v) .. : first W_UK[h] [nope, r], then W_UV[h] [v, r].
  Tensor out = Tensor::zeros(DType::F32, {H * row, r}, blk(layer, "attn_k_b+attn_v_b"));
  const Tensor k2 = kb.reshaped({H * r, nope}), v2 = vb.reshaped({H * vd, r});
  std::vector<float> buf(size_t(std::max(nope, r)));
  float* o = out.f32();
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t c = 0; c < r; ++c) {  // attn_k_b[h][c][i] = W_UK[h][i][c]
      weight_row_to_f32(k2, h * r + c, buf.data());
      for (int64_t i = 0; i < nope; ++i) o[(h * row + i) * r + c] = buf[i];
    }
    for (int64_t j = 0; j < vd; ++j)  // attn_v_b[h][j] = W_UV[h][j]
      weight_row_to_f32(v2, h * vd + j, o + (h * row + nope + j) * r);
  }
  return out;
}

}  // namespace dsrt
