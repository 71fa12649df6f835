#include "quant_tool/plan.h"

#include "models/gguf_source.h"
#include "models/rope.h"

namespace dsrt {
namespace {

// The weight with any FP8 block scale attached (WeightLoader knows where it lives).
Result<Tensor> fetch(const TensorSource& src, const ModelConfig& c, const std::string& name) {
  DSRT_ASSIGN_OR_RETURN(Tensor t, src.get(name));
  WeightStats stats;
  WeightLoader wl(src, c.fp8_block, &stats);
  if (t.shape.size() == 1) return wl.vector_f32(name, t.shape[0]);
  if (t.shape.size() != 2)
    return Status::Error("tensor '" + src.file_name(name) + "' has shape " + t.shape_str() + ", expected 1-D or 2-D");
  return wl.matrix(name, t.shape[0], t.shape[1]);
}

// Row reader of a 1-D or 2-D tensor; row_map (may be empty) maps output rows to source rows.
std::function<void(int64_t, float*)> reader(Tensor t, std::function<int64_t(int64_t)> row_map = {}) {
  if (t.shape.size() == 1) t = t.reshaped({1, t.shape[0]});
  auto sp = std::make_shared<Tensor>(std::move(t));
  return [sp, row_map](int64_t r, float* out) { weight_row_to_f32(*sp, row_map ? row_map(r) : r, out); };
}

// llama.cpp's converter (LlamaModel.permute): within each head of hd rows, row 2j + s of the
// output is row s * hd/2 + j of the HF weight (s = 0, 1; j < hd/2).
std::function<int64_t(int64_t)> llama_qk_perm(int64_t n_head, int64_t rows) {
  const int64_t hd = rows / n_head;
  return [hd](int64_t r) {
    const int64_t h = r / hd, rem = r % hd, j = rem / 2, s = rem % 2;
    return h * hd + s * (hd / 2) + j;
  };
}

PlannedTensor make(std::string gguf, std::vector<int64_t> shape, DType st,
                   std::function<void(int64_t, float*)> row, std::string group) {
  PlannedTensor p;
  p.cls = classify_tensor(gguf, shape.size());
  p.layer = tensor_layer(gguf);
  p.name = std::move(gguf);
  p.shape = std::move(shape);
  p.source_type = st;
  p.row = std::move(row);
  if (!group.empty()) {
    p.row_groups = {std::move(group)};
    p.rows_per_group = p.rows();
  }
  return p;
}

Status plan_kv_b(const TensorSource& src, const ModelConfig& c, int layer, const std::string& hf,
                 std::vector<PlannedTensor>* out) {
  DSRT_ASSIGN_OR_RETURN(Tensor kvb, fetch(src, c, hf));
  const int64_t H = c.num_attention_heads, nope = c.qk_nope_head_dim, vd = c.v_head_dim, r = c.kv_lora_rank;
  if (kvb.shape != std::vector<int64_t>{H * (nope + vd), r})
    return Status::Error("tensor '" + src.file_name(hf) + "' has shape " + kvb.shape_str() + ", expected [" +
                         std::to_string(H * (nope + vd)) + ", " + std::to_string(r) + "]");
  // HF: head h owns rows h*(nope+v) ..: W_UK[h] [nope, r], then W_UV[h] [v, r].
  auto kb = std::make_shared<std::vector<float>>(size_t(H * r * nope));  // {H, r, nope}
  std::vector<float> buf(static_cast<size_t>(r));
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < nope; ++i) {
      weight_row_to_f32(kvb, h * (nope + vd) + i, buf.data());
      for (int64_t k = 0; k < r; ++k) (*kb)[size_t((h * r + k) * nope + i)] = buf[size_t(k)];
    }
  const std::string pre = "blk." + std::to_string(layer) + ".";
  out->push_back(make(pre + "attn_k_b.weight", {H, r, nope}, kvb.dtype,
                      [kb, nope](int64_t row, float* o) {
                        std::copy_n(kb->data() + row * nope, nope, o);
                      },
                      ""));  // its input (q_nope) is not recorded: uniform importance
  auto sp = std::make_shared<Tensor>(kvb);
  out->push_back(make(pre + "attn_v_b.weight", {H, vd, r}, kvb.dtype,
                      [sp, nope, vd](int64_t row, float* o) {
                        const int64_t h = row / vd, j = row % vd;
                        weight_row_to_f32(*sp, h * (nope + vd) + nope + j, o);
                      },
                      hf));  // multiplies the latent, like kv_b
  return Status::Ok();
}

Status plan_experts(const TensorSource& src, const ModelConfig& c, int layer, std::vector<PlannedTensor>* out) {
  for (const char* proj : {"gate_proj", "up_proj", "down_proj"}) {
    std::vector<std::string> names;
    std::vector<std::shared_ptr<Tensor>> ts;
    for (int e = 0; e < c.n_routed_experts; ++e) {
      names.push_back("model.layers." + std::to_string(layer) + ".mlp.experts." + std::to_string(e) + "." + proj +
                      ".weight");
      if (!src.has(names.back()))
        return Status::Error("missing tensor '" + src.file_name(names.back()) + "'");
      DSRT_ASSIGN_OR_RETURN(Tensor t, fetch(src, c, names.back()));
      if (!ts.empty() && t.shape != ts[0]->shape)
        return Status::Error("tensor '" + src.file_name(names.back()) + "' has shape " + t.shape_str() +
                             ", expert 0 has " + ts[0]->shape_str());
      ts.push_back(std::make_shared<Tensor>(std::move(t)));
    }
    auto stacked = gguf_expert_tensor_name(names[0]);
    DSRT_CHECK_MSG(stacked.has_value(), "no stacked name for " + names[0]);
    const int64_t out_rows = ts[0]->shape[0];
    PlannedTensor p = make(stacked->second, {int64_t(ts.size()), out_rows, ts[0]->shape[1]}, ts[0]->dtype,
                           [ts, out_rows](int64_t r, float* o) {
                             weight_row_to_f32(*ts[size_t(r / out_rows)], r % out_rows, o);
                           },
                           "");
    p.row_groups = names;
    p.rows_per_group = out_rows;
    out->push_back(std::move(p));
  }
  return Status::Ok();
}

}  // namespace

Result<PlanResult> plan_tensors(const ModelConfig& c, std::shared_ptr<const TensorSource> src_ptr,
                                bool hf_layout) {
  const TensorSource& src = *src_ptr;
  PlanResult res;
  std::vector<PlannedTensor>& out = res.tensors;
  const bool permute = hf_layout && c.arch == Arch::Llama;
  const std::vector<std::string> names = gguf_mappable_hf_names(c.num_hidden_layers);
  std::vector<bool> experts_done(size_t(c.num_hidden_layers), false);
  std::vector<PlannedTensor> tail;  // output_norm, output: written last as the converter does
  for (const std::string& hf : names) {
    const std::optional<std::string> g = gguf_tensor_name(hf);
    DSRT_CHECK(g.has_value());
    const int layer = tensor_layer(*g);
    if (layer >= 0 && c.is_moe_layer(layer) && !experts_done[size_t(layer)] &&
        hf.find(".mlp.gate.weight") != std::string::npos) {
      // Routed experts right after the router, in llama.cpp's order.
      experts_done[size_t(layer)] = true;
      if (src.has(hf)) {
        DSRT_ASSIGN_OR_RETURN(Tensor t, fetch(src, c, hf));
        out.push_back(make(*g, t.shape, t.dtype, reader(t), hf));
      }
      DSRT_RETURN_IF_ERROR(plan_experts(src, c, layer, &out));
      continue;
    }
    if (!src.has(hf)) continue;
    if (hf.size() > 26 && hf.compare(hf.size() - 26, 26, "self_attn.kv_b_proj.weight") == 0) {
      DSRT_RETURN_IF_ERROR(plan_kv_b(src, c, layer, hf, &out));
      continue;
    }
    DSRT_ASSIGN_OR_RETURN(Tensor t, fetch(src, c, hf));
    std::function<int64_t(int64_t)> perm;
    const bool is_q = hf.find("self_attn.q_proj.") != std::string::npos;
    const bool is_k = hf.find("self_attn.k_proj.") != std::string::npos;
    if (permute && (is_q || is_k)) {
      const int64_t n_head = is_q ? c.num_attention_heads : c.num_key_value_heads;
      if (t.shape.size() == 1) {
        // A bias permutes like a one-column weight: element r of the output is element perm(r).
        Tensor v = t;
        auto perm_fn = llama_qk_perm(n_head, t.shape[0]);
        auto sp = std::make_shared<Tensor>(v);
        const int64_t n = t.shape[0];
        out.push_back(make(*g, t.shape, t.dtype,
                           [sp, perm_fn, n](int64_t, float* o) {
                             for (int64_t i = 0; i < n; ++i) o[i] = sp->f32()[perm_fn(i)];
                           },
                           ""));
        continue;
      }
      perm = llama_qk_perm(n_head, t.shape[0]);
    }
    PlannedTensor p = make(*g, t.shape, t.dtype, reader(t, perm), t.shape.size() == 2 ? hf : "");
    if (*g == "output_norm.weight" || *g == "output.weight") {
      tail.push_back(std::move(p));
    } else {
      out.push_back(std::move(p));
    }
  }
  // Llama-3 rope scaling: llama.cpp's converter bakes it into per-frequency divisors.
  std::vector<float> factors = c.rope_freq_factors;
  if (factors.empty() && c.rope_scaling.type == "llama3") {
    ModelConfig plain = c;
    plain.rope_scaling = RopeScaling{};
    const RopeTable base = make_rope_table(plain, c.head_dim), scaled = make_rope_table(c, c.head_dim);
    for (size_t i = 0; i < base.inv_freq.size(); ++i) factors.push_back(base.inv_freq[i] / scaled.inv_freq[i]);
  }
  if (!factors.empty()) {
    auto f = std::make_shared<std::vector<float>>(factors);
    out.push_back(make("rope_freqs.weight", {int64_t(f->size())}, DType::F32,
                       [f](int64_t, float* o) { std::copy(f->begin(), f->end(), o); }, ""));
  }
  for (PlannedTensor& p : tail) out.push_back(std::move(p));
  if (!src.has("model.embed_tokens.weight"))
    return Status::Error("the source has no token embedding (model.embed_tokens.weight / token_embd.weight)");
  return res;
}

}  // namespace dsrt
