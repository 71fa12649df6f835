// Dense decoder-only transformers of the R1-Distill models: Qwen2 (qkv bias) and Llama
// (GQA, Llama-3 rope scaling). RoPE is the half-split ("neox") form of HF's rotate_half, or the
// adjacent-pair form for llama.cpp's permuted `llama` GGUFs (ModelConfig::rope_interleaved).
#include <cmath>
#include <cstring>

#include "models/dense.h"
#include "models/kv_cache.h"
#include "models/rope.h"
#include "models/weights.h"

namespace dsrt {
namespace {

struct DenseLayer {
  Tensor attn_norm, ffn_norm, wq, wk, wv, wo, bq, bk, bv, gate, up, down;
};

}  // namespace

class DenseModel final : public Model {
 public:
  DenseModel(ModelConfig c, std::shared_ptr<Backend> b, std::shared_ptr<const TensorSource> src)
      : backend_(std::move(b)), src_(std::move(src)) {
    config_ = std::move(c);
  }

  Status load() {
    const ModelConfig& c = config_;
    WeightLoader wl(*src_, c.fp8_block, &stats_);
    const int64_t D = c.hidden_size, H = c.num_attention_heads, KV = c.num_key_value_heads;
    const int64_t hd = c.head_dim, F = c.intermediate_size;
    DSRT_ASSIGN_OR_RETURN(embed_, wl.matrix("model.embed_tokens.weight", c.vocab_size, D));
    DSRT_ASSIGN_OR_RETURN(norm_, wl.vector_f32("model.norm.weight", D));
    if (c.tie_word_embeddings || !wl.has("lm_head.weight")) {
      if (!c.tie_word_embeddings)
        return Status::Error("checkpoint has no tensor 'lm_head.weight' and tie_word_embeddings is false");
      lm_head_ = embed_;
    } else {
      DSRT_ASSIGN_OR_RETURN(lm_head_, wl.matrix("lm_head.weight", c.vocab_size, D));
    }
    for (int l = 0; l < c.num_hidden_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      DenseLayer L;
      DSRT_ASSIGN_OR_RETURN(L.attn_norm, wl.vector_f32(p + "input_layernorm.weight", D));
      DSRT_ASSIGN_OR_RETURN(L.ffn_norm, wl.vector_f32(p + "post_attention_layernorm.weight", D));
      DSRT_ASSIGN_OR_RETURN(L.wq, wl.matrix(p + "self_attn.q_proj.weight", H * hd, D));
      DSRT_ASSIGN_OR_RETURN(L.wk, wl.matrix(p + "self_attn.k_proj.weight", KV * hd, D));
      DSRT_ASSIGN_OR_RETURN(L.wv, wl.matrix(p + "self_attn.v_proj.weight", KV * hd, D));
      DSRT_ASSIGN_OR_RETURN(L.wo, wl.matrix(p + "self_attn.o_proj.weight", D, H * hd));
      if (c.attention_bias) {
        DSRT_ASSIGN_OR_RETURN(L.bq, wl.vector_f32(p + "self_attn.q_proj.bias", H * hd));
        DSRT_ASSIGN_OR_RETURN(L.bk, wl.vector_f32(p + "self_attn.k_proj.bias", KV * hd));
        DSRT_ASSIGN_OR_RETURN(L.bv, wl.vector_f32(p + "self_attn.v_proj.bias", KV * hd));
      }
      DSRT_ASSIGN_OR_RETURN(L.gate, wl.matrix(p + "mlp.gate_proj.weight", F, D));
      DSRT_ASSIGN_OR_RETURN(L.up, wl.matrix(p + "mlp.up_proj.weight", F, D));
      DSRT_ASSIGN_OR_RETURN(L.down, wl.matrix(p + "mlp.down_proj.weight", D, F));
      layers_.push_back(std::move(L));
    }
    rope_ = make_rope_table(c, int(hd));
    return Status::Ok();
  }

  int64_t cache_values_per_token_layer() const override {
    return 2 * int64_t(config_.num_key_value_heads) * config_.head_dim;
  }

  Result<Tensor> forward(const std::vector<SeqInput>& batch) override;

 private:
  void add_bias(const Tensor& b, Tensor& y) {
    if (b.empty()) return;
    for (int64_t i = 0; i < y.rows(); ++i) {
      Tensor row = y.slice_rows(i, 1);
      backend_->add(b, row);
    }
  }

  std::shared_ptr<Backend> backend_;
  std::shared_ptr<const TensorSource> src_;  // keeps the file mappings alive
  Tensor embed_, norm_, lm_head_;
  std::vector<DenseLayer> layers_;
  RopeTable rope_;
};

Result<Tensor> DenseModel::forward(const std::vector<SeqInput>& batch) {
  const ModelConfig& c = config_;
  DSRT_ASSIGN_OR_RETURN(BatchLayout bl,
                        prepare_batch(batch, cache_values_per_token_layer(), c.vocab_size, "KV cache"));
  const std::vector<int32_t>& tokens = bl.tokens;
  const std::vector<int32_t>& pos = bl.pos;
  const int64_t n_out = bl.n_out;
  Backend& be = *backend_;
  const int64_t N = int64_t(tokens.size()), D = c.hidden_size, H = c.num_attention_heads;
  const int64_t KV = c.num_key_value_heads, hd = c.head_dim;
  Tensor h = Tensor::zeros(DType::F32, {N, D});
  be.embedding(embed_, tokens.data(), N, h);  // {N, hidden}
  Tensor xn = Tensor::zeros(DType::F32, {N, D}), t = Tensor::zeros(DType::F32, {N, D});
  Tensor q = Tensor::zeros(DType::F32, {N, H * hd});
  Tensor k = Tensor::zeros(DType::F32, {N, KV * hd}), v = Tensor::zeros(DType::F32, {N, KV * hd});
  Tensor o = Tensor::zeros(DType::F32, {N, H * hd});
  Tensor g = Tensor::zeros(DType::F32, {N, c.intermediate_size}), u = g;
  u = Tensor::zeros(DType::F32, {N, c.intermediate_size});
  RopeArgs ra;
  ra.n_tok = N;
  ra.rope_dim = hd;
  ra.pos = pos.data();
  ra.inv_freq = rope_.inv_freq.data();
  ra.attn_factor = rope_.attn_factor;
  // HF's rotate_half is the half-split form; llama.cpp's `llama` GGUFs have q/k rows permuted
  // by the converter so that the adjacent-pair form gives the same result (see ModelConfig).
  ra.interleaved = c.rope_interleaved;
  ra.stride_head = hd;
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const DenseLayer& L = layers_[l];
    be.rms_norm(h, L.attn_norm, c.rms_norm_eps, xn);
    // q, k, v {N, H * head_dim}, {N, KV * head_dim} x 2: one parallel region in decode
    be.matmul_batch({{&xn, &L.wq, &q}, {&xn, &L.wk, &k}, {&xn, &L.wv, &v}});
    add_bias(L.bq, q);
    add_bias(L.bk, k);
    add_bias(L.bv, v);
    ra.x = q.f32();
    ra.n_head = H;
    ra.stride_tok = H * hd;
    be.rope(ra);
    ra.x = k.f32();
    ra.n_head = KV;
    ra.stride_tok = KV * hd;
    be.rope(ra);
    int64_t t0 = 0;
    std::vector<AttentionArgs> attn;  // one call per sequence, run together
    for (const SeqInput& s : batch) {
      // A cache row holds K then V of every KV head: [2, KV, head_dim].
      auto* cache = static_cast<KvSeq*>(s.cache);
      const int64_t n = int64_t(s.tokens.size()), start = cache->n_past();
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(cache->row(l, start + i), k.f32() + (t0 + i) * KV * hd, KV * hd * 4);
        std::memcpy(cache->row(l, start + i) + KV * hd, v.f32() + (t0 + i) * KV * hd, KV * hd * 4);
      }
      AttentionArgs aa;
      aa.q = q.f32() + t0 * H * hd;
      aa.q_stride_tok = H * hd;
      aa.q_stride_head = hd;
      aa.k = cache->layer_base(l);
      aa.k_stride_tok = 2 * KV * hd;
      aa.k_stride_head = hd;
      aa.v = cache->layer_base(l) + KV * hd;
      aa.v_stride_tok = 2 * KV * hd;
      aa.kv_block_table = cache->block_table();
      aa.kv_block_size = cache->block_size();
      aa.v_stride_head = hd;
      aa.out = o.f32() + t0 * H * hd;
      aa.o_stride_tok = H * hd;
      aa.o_stride_head = hd;
      aa.n_tok = n;
      aa.n_kv = start + n;
      aa.n_head = H;
      aa.n_head_kv = KV;
      aa.d_k = hd;
      aa.d_v = hd;
      aa.q_pos = pos.data() + t0;
      aa.scale = float(1.0 / std::sqrt(double(hd)));
      attn.push_back(aa);
      t0 += n;
    }
    be.attention_batch(attn);  // {n, H, head_dim} per sequence
    be.matmul(o, L.wo, t);  // {N, hidden}
    be.add(t, h);
    be.rms_norm(h, L.ffn_norm, c.rms_norm_eps, xn);
    be.matmul_batch({{&xn, &L.gate, &g}, {&xn, &L.up, &u}});  // {N, ffn} each
    be.silu_mul(g, u, g);
    be.matmul(g, L.down, t);   // {N, hidden}
    be.add(t, h);
  }
  Tensor sel = take_output_rows(batch, h, n_out);  // {n_out, hidden}
  be.rms_norm(sel, norm_, c.rms_norm_eps, sel);
  Tensor logits = Tensor::zeros(DType::F32, {n_out, c.vocab_size});
  be.matmul(sel, lm_head_, logits);  // {n_out, vocab}
  return logits;
}

Result<std::unique_ptr<Model>> load_dense(ModelConfig c, std::shared_ptr<const TensorSource> src,
                                          std::shared_ptr<Backend> b) {
  auto m = std::make_unique<DenseModel>(std::move(c), std::move(b), std::move(src));
  DSRT_RETURN_IF_ERROR(m->load());
  return std::unique_ptr<Model>(std::move(m));
}

}  // namespace dsrt
