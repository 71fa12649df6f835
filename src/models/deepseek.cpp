// DeepSeek-V2 / V2-Lite / V3 / R1: Multi-head Latent Attention + DeepSeekMoE.
// References: DeepSeek-V2 (arXiv:2405.04434) §2.1 (MLA, decoupled RoPE), DeepSeek-V3
// (arXiv:2412.19437) §2.1 (sigmoid gating, auxiliary-loss-free bias, node-limited routing),
// and DeepSeek's inference/model.py, whose semantics the oracle tests pin down.
#include <cmath>
#include <cstring>

#include "models/deepseek.h"
#include "models/gguf_source.h"
#include "models/kv_cache.h"
#include "models/rope.h"
#include "models/weights.h"

namespace dsrt {
namespace {

// The MLA cache (a KvSeq) keeps, per layer and token, the normalised latent c_KV
// (kv_lora_rank values) followed by the RoPE'd shared key k_pe (qk_rope_head_dim values) and
// nothing else.

struct MlpWeights {
  Tensor gate, up, down;
};

struct Layer {
  Tensor attn_norm, ffn_norm;
  Tensor q_a, q_a_norm, q_b;  // q LoRA; or q_b = wq when q_lora_rank == 0
  Tensor kv_a, kv_a_norm, o;
  Tensor kv_b;               // naive form only: [H * (nope + v), kv_lora_rank]
  std::vector<Tensor> k_b;   // absorbed form, per head: W_UK[h]^T [kv_lora_rank, nope]
  std::vector<Tensor> v_b;   // absorbed form, per head: W_UV[h] [v_head_dim, kv_lora_rank]
  bool moe = false;
  MlpWeights mlp;     // dense layers
  Tensor router;      // [n_routed_experts, hidden]
  Tensor router_bias; // e_score_correction_bias, may be empty
  std::vector<MlpWeights> experts;
  std::vector<ExpertWeights> expert_refs;
  MlpWeights shared;  // valid when n_shared_experts > 0
};

}  // namespace

class DeepSeekModel final : public Model {
 public:
  DeepSeekModel(ModelConfig c, std::shared_ptr<Backend> b, ModelOptions o,
                std::shared_ptr<const TensorSource> src)
      : backend_(std::move(b)), opt_(o), src_(std::move(src)) {
    config_ = std::move(c);
  }

  Status load() {
    const ModelConfig& c = config_;
    WeightLoader wl(*src_, c.fp8_block, &stats_);
    const int64_t D = c.hidden_size, H = c.num_attention_heads, r = c.kv_lora_rank;
    const int64_t qk = c.qk_head_dim(), rope = c.qk_rope_head_dim;
    DSRT_ASSIGN_OR_RETURN(embed_, wl.matrix("model.embed_tokens.weight", c.vocab_size, D));
    DSRT_ASSIGN_OR_RETURN(norm_, wl.vector_f32("model.norm.weight", D));
    if (c.tie_word_embeddings && !wl.has("lm_head.weight")) {
      lm_head_ = embed_;
    } else {
      DSRT_ASSIGN_OR_RETURN(lm_head_, wl.matrix("lm_head.weight", c.vocab_size, D));
    }
    for (int l = 0; l < c.num_hidden_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      Layer L;
      DSRT_ASSIGN_OR_RETURN(L.attn_norm, wl.vector_f32(p + "input_layernorm.weight", D));
      DSRT_ASSIGN_OR_RETURN(L.ffn_norm, wl.vector_f32(p + "post_attention_layernorm.weight", D));
      const std::string a = p + "self_attn.";
      if (c.q_lora_rank > 0) {
        DSRT_ASSIGN_OR_RETURN(L.q_a, wl.matrix(a + "q_a_proj.weight", c.q_lora_rank, D));
        DSRT_ASSIGN_OR_RETURN(L.q_a_norm, wl.vector_f32(a + "q_a_layernorm.weight", c.q_lora_rank));
        DSRT_ASSIGN_OR_RETURN(L.q_b, wl.matrix(a + "q_b_proj.weight", H * qk, c.q_lora_rank));
      } else {
        DSRT_ASSIGN_OR_RETURN(L.q_b, wl.matrix(a + "q_proj.weight", H * qk, D));
      }
      DSRT_ASSIGN_OR_RETURN(L.kv_a, wl.matrix(a + "kv_a_proj_with_mqa.weight", r + rope, D));
      DSRT_ASSIGN_OR_RETURN(L.kv_a_norm, wl.vector_f32(a + "kv_a_layernorm.weight", r));
      if (opt_.attn == AttnForm::Naive) {
        DSRT_ASSIGN_OR_RETURN(
            L.kv_b, wl.matrix(a + "kv_b_proj.weight", H * (c.qk_nope_head_dim + c.v_head_dim), r));
      } else {
        DSRT_RETURN_IF_ERROR(load_absorbed_kv_b(wl, p, &L));
      }
      DSRT_ASSIGN_OR_RETURN(L.o, wl.matrix(a + "o_proj.weight", D, H * c.v_head_dim));
      L.moe = c.is_moe_layer(l);
      const std::string m = p + "mlp.";
      if (!L.moe) {
        DSRT_RETURN_IF_ERROR(load_mlp(wl, m, c.intermediate_size, &L.mlp));
      } else {
        DSRT_ASSIGN_OR_RETURN(L.router, wl.matrix(m + "gate.weight", c.n_routed_experts, D));
        if (wl.has(m + "gate.e_score_correction_bias")) {
          DSRT_ASSIGN_OR_RETURN(L.router_bias,
                                wl.vector_f32(m + "gate.e_score_correction_bias", c.n_routed_experts));
        } else if (c.topk_method == "noaux_tc") {
          return Status::Error("tensor '" + m + "gate.e_score_correction_bias' is required by topk_method noaux_tc");
        }
        L.experts.resize(c.n_routed_experts);
        for (int e = 0; e < c.n_routed_experts; ++e)
          DSRT_RETURN_IF_ERROR(load_mlp(wl, m + "experts." + std::to_string(e) + ".",
                                        c.moe_intermediate_size, &L.experts[e]));
        for (auto& e : L.experts) L.expert_refs.push_back({&e.gate, &e.up, &e.down});
        if (c.n_shared_experts > 0)
          DSRT_RETURN_IF_ERROR(load_mlp(wl, m + "shared_experts.",
                                        int64_t(c.n_shared_experts) * c.moe_intermediate_size,
                                        &L.shared));
      }
      layers_.push_back(std::move(L));
    }
    rope_ = make_rope_table(c, c.qk_rope_head_dim);
    // Softmax scale over the full q/k head (nope + rope), times YaRN's mscale^2.
    softmax_scale_ = float(1.0 / std::sqrt(double(qk))) * rope_.softmax_mscale;
    route_.scoring = c.scoring_func == "sigmoid" ? ScoringFunc::Sigmoid : ScoringFunc::Softmax;
    route_.n_group = c.n_group;
    route_.topk_group = c.topk_group;
    route_.top_k = c.num_experts_per_tok;
    route_.group_by_top2_sum = c.topk_method == "noaux_tc";
    route_.norm_topk_prob = c.norm_topk_prob;
    route_.routed_scaling_factor = c.routed_scaling_factor;
    if (c.topk_method == "greedy") route_.n_group = route_.topk_group = 1;
    return Status::Ok();
  }

  int64_t cache_values_per_token_layer() const override {
    return config_.kv_lora_rank + config_.qk_rope_head_dim;
  }

  Result<Tensor> forward(const std::vector<SeqInput>& batch) override;

 private:
  // Whether a chunk of n new tokens over n_kv cached positions (the chunk's included) runs
  // expanded. FLOPs of each form (multiply-adds; both share the q and o projections):
  //   absorbed: n H (nope r + r v)          [W_UK into q, W_UV out of the latent]
  //             + pairs H (r + rope + r)    [scores over the latent row, values = latent]
  //   expanded: n_kv H (r nope + r v)       [K_nope and V for every cached position]
  //             + pairs H (nope + rope + v)
  // with pairs = the causal (query, key) pairs. A fresh prompt pays the same projections
  // either way (n = n_kv) and only the attention differs; a short chunk behind a long
  // context re-expands every cached position, so it stays absorbed. Expanded needs a 10%
  // margin (its K/V copies) and at most kExpandMaxBytes of temporaries.
  bool expand_chunk(int64_t n, int64_t n_kv) const {
    if (n < 2) return false;
    if (opt_.attn == AttnForm::Expand) return true;
    if (opt_.attn != AttnForm::Auto || !backend_->fast_matmul_xw()) return false;
    const ModelConfig& c = config_;
    const double H = c.num_attention_heads, r = c.kv_lora_rank, nope = c.qk_nope_head_dim;
    const double rope = c.qk_rope_head_dim, v = c.v_head_dim;
    const double pairs = double(n) * double(n_kv - n) + double(n) * double(n + 1) / 2;
    const double absorbed = double(n) * H * (nope * r + r * v) + pairs * H * (2 * r + rope);
    const double expanded = double(n_kv) * H * (r * nope + r * v) + pairs * H * (nope + rope + v);
    const double bytes = 4.0 * double(n_kv) * (r + nope + H * (nope + rope + v));
    constexpr double kExpandMaxBytes = 256.0 * (1 << 20);
    return expanded * 1.1 < absorbed && bytes <= kExpandMaxBytes;
  }

  Status load_mlp(WeightLoader& wl, const std::string& p, int64_t ffn, MlpWeights* w) {
    const int64_t D = config_.hidden_size;
    DSRT_ASSIGN_OR_RETURN(w->gate, wl.matrix(p + "gate_proj.weight", ffn, D));
    DSRT_ASSIGN_OR_RETURN(w->up, wl.matrix(p + "up_proj.weight", ffn, D));
    DSRT_ASSIGN_OR_RETURN(w->down, wl.matrix(p + "down_proj.weight", D, ffn));
    return Status::Ok();
  }

  // The absorbed form's per-head k_b (W_UK^T) and v_b (W_UV). From llama.cpp's split
  // attn_k_b / attn_v_b: views of the file's tensors in their stored dtype. From a combined
  // kv_b_proj (HF, older GGUF): v_b are row views of it; k_b is W_UK transposed at load, as a
  // matmul weight needs [out = r, in = nope]: in BF16/F16 for such sources (2 * H * r * nope
  // bytes per layer), in F32 otherwise (4 * H * r * nope).
  Status load_absorbed_kv_b(WeightLoader& wl, const std::string& p, Layer* L) {
    const ModelConfig& c = config_;
    const int64_t H = c.num_attention_heads, r = c.kv_lora_rank;
    const int64_t nope = c.qk_nope_head_dim, vd = c.v_head_dim, row = nope + vd;
    const std::string kn = p + kSplitKb, vn = p + kSplitVb;
    if (wl.has(kn) && wl.has(vn)) {
      DSRT_ASSIGN_OR_RETURN(Tensor kb, wl.matrix(kn, H * r, nope));
      DSRT_ASSIGN_OR_RETURN(Tensor vb, wl.matrix(vn, H * vd, r));
      for (int64_t h = 0; h < H; ++h) {
        L->k_b.push_back(kb.slice_rows(h * r, r));
        L->v_b.push_back(vb.slice_rows(h * vd, vd));
      }
      return Status::Ok();
    }
    DSRT_ASSIGN_OR_RETURN(Tensor kvb, wl.matrix(p + "self_attn.kv_b_proj.weight", H * row, r));
    // 16-bit sources transpose exactly into their own type (half the bytes of F32: ~1 GiB
    // less for a BF16 V3 checkpoint); the rest (FP8 block-scaled, quantized) decode to F32.
    const bool half = kvb.dtype == DType::BF16 || kvb.dtype == DType::F16;
    Tensor kt = Tensor::zeros_huge(half ? kvb.dtype : DType::F32, {H * r, nope}, kvb.name + " (W_UK^T)");
    std::vector<float> buf(static_cast<size_t>(r));
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < nope; ++i) {  // W_UK[h][i][c] -> k_b[h][c][i]
        if (half) {
          const auto* src = reinterpret_cast<const uint16_t*>(kvb.row_ptr(h * row + i));
          for (int64_t cc = 0; cc < r; ++cc) kt.ptr<uint16_t>()[(h * r + cc) * nope + i] = src[cc];
          continue;
        }
        weight_row_to_f32(kvb, h * row + i, buf.data());
        for (int64_t cc = 0; cc < r; ++cc) kt.f32()[(h * r + cc) * nope + i] = buf[size_t(cc)];
      }
    for (int64_t h = 0; h < H; ++h) {
      L->k_b.push_back(kt.slice_rows(h * r, r));
      L->v_b.push_back(kvb.slice_rows(h * row + nope, vd));
    }
    return Status::Ok();
  }

  void mlp(const MlpWeights& w, const Tensor& x, Tensor& y) {
    const int64_t n = x.rows(), f = w.gate.rows();
    Tensor g = Tensor::zeros(DType::F32, {n, f}), u = Tensor::zeros(DType::F32, {n, f});
    backend_->matmul_batch({{&x, &w.gate, &g}, {&x, &w.up, &u}});  // {n, ffn} each
    backend_->silu_mul(g, u, g);
    backend_->matmul(g, w.down, y);  // {n, hidden}
  }

  void attention(int l, const Tensor& x, const std::vector<SeqInput>& batch,
                 const std::vector<int32_t>& pos, Tensor& out);
  void ffn(const Layer& L, const Tensor& x, Tensor& y);

  std::shared_ptr<Backend> backend_;
  ModelOptions opt_;
  std::shared_ptr<const TensorSource> src_;  // keeps the file mappings alive
  Tensor embed_, norm_, lm_head_;
  std::vector<Layer> layers_;
  RopeTable rope_;
  float softmax_scale_ = 1.0f;
  MoeRouteArgs route_;
};

void DeepSeekModel::attention(int l, const Tensor& x, const std::vector<SeqInput>& batch,
                              const std::vector<int32_t>& pos, Tensor& out) {
  const ModelConfig& c = config_;
  const Layer& L = layers_[l];
  Backend& be = *backend_;
  const int64_t N = x.rows(), H = c.num_attention_heads, r = c.kv_lora_rank;
  const int64_t nope = c.qk_nope_head_dim, rope = c.qk_rope_head_dim, qk = nope + rope;
  const int64_t vd = c.v_head_dim, kvb_row = nope + vd, crow = r + rope;

  // The products of x go to the backend together (one parallel region in decode).
  Tensor q = Tensor::zeros(DType::F32, {N, H * qk});
  Tensor kva = Tensor::zeros(DType::F32, {N, crow});  // [c_KV | k_pe]
  if (c.q_lora_rank > 0) {
    Tensor qa = Tensor::zeros(DType::F32, {N, c.q_lora_rank});
    be.matmul_batch({{&x, &L.q_a, &qa}, {&x, &L.kv_a, &kva}});  // {N, q_lora_rank}, {N, crow}
    be.rms_norm(qa, L.q_a_norm, c.rms_norm_eps, qa);
    be.matmul(qa, L.q_b, q);               // {N, H * (nope + rope)}
  } else {
    be.matmul_batch({{&x, &L.q_b, &q}, {&x, &L.kv_a, &kva}});  // {N, H * qk}, {N, crow}
  }
  Tensor lat = Tensor::zeros(DType::F32, {N, r});
  for (int64_t i = 0; i < N; ++i) std::memcpy(lat.f32() + i * r, kva.f32() + i * crow, r * 4);
  be.rms_norm(lat, L.kv_a_norm, c.rms_norm_eps, lat);  // {N, kv_lora_rank}

  RopeArgs ra;
  ra.rope_dim = rope;
  ra.pos = pos.data();
  ra.inv_freq = rope_.inv_freq.data();
  ra.attn_factor = rope_.attn_factor;
  // DeepSeek rotates pairs (2i, 2i+1) (model.py view_as_complex); so does llama.cpp's
  // deepseek2 graph on unpermuted weights. Both sources set rope_interleaved = true.
  ra.interleaved = c.rope_interleaved;
  ra.n_tok = N;
  ra.x = q.f32() + nope;  // rope part of each head of q
  ra.n_head = H;
  ra.stride_tok = H * qk;
  ra.stride_head = qk;
  be.rope(ra);
  ra.x = kva.f32() + r;   // the single shared k_pe of each token
  ra.n_head = 1;
  ra.stride_tok = crow;
  ra.stride_head = rope;
  be.rope(ra);

  Tensor o = Tensor::zeros(DType::F32, {N, H * vd});  // attention output before o_proj
  int64_t t0 = 0;
  for (const SeqInput& s : batch) {
    auto* cache = static_cast<KvSeq*>(s.cache);
    const int64_t n = int64_t(s.tokens.size()), start = cache->n_past(), n_kv = start + n;
    for (int64_t i = 0; i < n; ++i) {
      float* row = cache->row(l, start + i);
      std::memcpy(row, lat.f32() + (t0 + i) * r, r * 4);
      std::memcpy(row + r, kva.f32() + (t0 + i) * crow + r, rope * 4);
    }
    AttentionArgs aa;
    aa.n_tok = n;
    aa.n_kv = n_kv;
    aa.n_head = H;
    aa.q_pos = pos.data() + t0;
    aa.scale = softmax_scale_;
    const float* cache0 = cache->layer_base(l);  // arena row 0; rows via the block table
    // The decompressing forms: the cached latents as one matrix, and attention per head over
    // decompressed keys / values given by their token and head strides.
    auto cached_latents = [&] {
      Tensor clat = Tensor::zeros(DType::F32, {n_kv, r});
      for (int64_t j = 0; j < n_kv; ++j) std::memcpy(clat.f32() + j * r, cache->row(l, j), r * 4);
      return clat;
    };
    auto attend_per_head = [&](const float* k, int64_t k_tok, int64_t k_head, const float* v,
                               int64_t v_tok, int64_t v_head) {
      aa.q = q.f32() + t0 * H * qk;
      aa.q_stride_tok = H * qk;
      aa.q_stride_head = qk;
      aa.k = k;
      aa.k_stride_tok = k_tok;
      aa.k_stride_head = k_head;
      aa.v = v;
      aa.v_stride_tok = v_tok;
      aa.v_stride_head = v_head;
      aa.n_head_kv = H;
      aa.d_k = qk;
      aa.d_v = vd;
      aa.out = o.f32() + t0 * H * vd;
      aa.o_stride_tok = H * vd;
      aa.o_stride_head = vd;
      be.attention(aa);
    };
    if (expand_chunk(n, n_kv)) {  // Expand or Auto (never Naive: no k_b loaded)
      // Expanded from the absorbed weights: per head K_nope = C W_UK^T (k_b[h] is W_UK[h]^T,
      // [r, nope], used untransposed) and V = C W_UV^T, laid out head-major so each head's
      // keys and values are contiguous; q is the projected q as it is.
      Tensor clat = cached_latents();
      Tensor kh = Tensor::zeros(DType::F32, {n_kv, nope});
      Tensor k = Tensor::zeros(DType::F32, {H, n_kv, qk}), v = Tensor::zeros(DType::F32, {H, n_kv, vd});
      for (int64_t h = 0; h < H; ++h) {
        be.matmul_xw(clat, L.k_b[size_t(h)], kh);
        for (int64_t j = 0; j < n_kv; ++j) {
          float* kr = k.f32() + (h * n_kv + j) * qk;
          std::memcpy(kr, kh.f32() + j * nope, nope * 4);
          std::memcpy(kr + nope, cache->row(l, j) + r, rope * 4);
        }
        Tensor vh;
        vh.shape = {n_kv, vd};
        vh.data = v.f32() + h * n_kv * vd;
        be.matmul(clat, L.v_b[size_t(h)], vh);
      }
      attend_per_head(k.f32(), qk, n_kv * qk, v.f32(), vd, n_kv * vd);
    } else if (opt_.attn == AttnForm::Naive) {
      // Decompress K_nope and V for every cached position: [n_kv, H, nope + v].
      Tensor clat = cached_latents();
      Tensor kvb = Tensor::zeros(DType::F32, {n_kv, H * kvb_row});
      be.matmul(clat, L.kv_b, kvb);  // {n_kv, H * (nope + v)}
      Tensor k = Tensor::zeros(DType::F32, {n_kv, H, qk});
      for (int64_t j = 0; j < n_kv; ++j)
        for (int64_t h = 0; h < H; ++h) {
          float* kr = k.f32() + (j * H + h) * qk;
          std::memcpy(kr, kvb.f32() + j * H * kvb_row + h * kvb_row, nope * 4);
          std::memcpy(kr + nope, cache->row(l, j) + r, rope * 4);
        }
      attend_per_head(k.f32(), H * qk, qk, kvb.f32() + nope, H * kvb_row, kvb_row);
    } else {
      // Absorbed: q_lat[h] = q_nope[h] * k_b[h]^T (k_b[h] = W_UK[h]^T, [r, nope]), attention
      // over the cache rows [c_KV | k_pe] shared by all heads (MQA), values = c_KV; then
      // out[h] = o_lat[h] * v_b[h]^T (v_b[h] = W_UV[h], [v, r]). A single token (decode)
      // needs no copies: its head slices of q, qa, ol and o are contiguous matmul operands.
      Tensor qa = Tensor::zeros(DType::F32, {n, H, crow});
      Tensor ol = Tensor::zeros(DType::F32, {n, H, r});
      const bool one = n == 1;
      auto buffer = [&](int64_t cols) {
        if (!one) return Tensor::zeros(DType::F32, {n, cols});
        Tensor v;  // a view; data is set per head
        v.shape = {1, cols};
        return v;
      };
      Tensor qn = buffer(nope), ql = buffer(r), oh = buffer(r), vh = buffer(vd);
      float* const qs = q.f32() + t0 * H * qk;  // this sequence's q rows
      float* const os = o.f32() + t0 * H * vd;  // and output rows
      // Decode: all heads' products in one matmul_batch (one parallel region on the CPU).
      std::vector<Tensor> views;
      std::vector<MatmulJob> jobs;
      auto run_heads = [&](const std::vector<Tensor>& w, auto x_ptr, auto y_ptr, int64_t xc, int64_t yc) {
        views.assign(size_t(2 * H), Tensor());
        jobs.clear();
        for (int64_t h = 0; h < H; ++h) {
          Tensor& xv = views[size_t(2 * h)];
          Tensor& yv = views[size_t(2 * h + 1)];
          xv.dtype = yv.dtype = DType::F32;
          xv.shape = {1, xc};
          yv.shape = {1, yc};
          xv.data = x_ptr(h);
          yv.data = y_ptr(h);
          jobs.push_back({&xv, &w[size_t(h)], &yv});
        }
        be.matmul_batch(jobs);
      };
      if (one) {
        run_heads(L.k_b, [&](int64_t h) { return qs + h * qk; },
                  [&](int64_t h) { return qa.f32() + h * crow; }, nope, r);
      }
      for (int64_t h = 0; h < H; ++h) {
        if (!one) {
          for (int64_t i = 0; i < n; ++i)
            std::memcpy(qn.f32() + i * nope, qs + i * H * qk + h * qk, nope * 4);
          be.matmul(qn, L.k_b[size_t(h)], ql);  // {n, kv_lora_rank}
        }
        for (int64_t i = 0; i < n; ++i) {
          float* dst = qa.f32() + (i * H + h) * crow;
          if (!one) std::memcpy(dst, ql.f32() + i * r, r * 4);
          std::memcpy(dst + r, qs + i * H * qk + h * qk + nope, rope * 4);
        }
      }
      aa.q = qa.f32();
      aa.q_stride_tok = H * crow;
      aa.q_stride_head = crow;
      aa.k = cache0;
      aa.k_stride_tok = crow;
      aa.k_stride_head = 0;
      aa.v = cache0;
      aa.kv_block_table = cache->block_table();
      aa.kv_block_size = cache->block_size();
      aa.v_stride_tok = crow;
      aa.v_stride_head = 0;
      aa.n_head_kv = 1;
      aa.d_k = crow;
      aa.d_v = r;
      aa.out = ol.f32();
      aa.o_stride_tok = H * r;
      aa.o_stride_head = r;
      be.attention(aa);  // {n, H, kv_lora_rank}
      if (one) {
        run_heads(L.v_b, [&](int64_t h) { return ol.f32() + h * r; },
                  [&](int64_t h) { return os + h * vd; }, r, vd);
      }
      for (int64_t h = 0; h < H && !one; ++h) {
        for (int64_t i = 0; i < n; ++i)
          std::memcpy(oh.f32() + i * r, ol.f32() + (i * H + h) * r, r * 4);
        be.matmul(oh, L.v_b[size_t(h)], vh);  // {n, v_head_dim}
        for (int64_t i = 0; i < n; ++i)
          std::memcpy(os + i * H * vd + h * vd, vh.f32() + i * vd, vd * 4);
      }
    }
    t0 += n;
  }
  be.matmul(o, L.o, out);  // {N, hidden}
}

void DeepSeekModel::ffn(const Layer& L, const Tensor& x, Tensor& y) {
  if (!L.moe) return mlp(L.mlp, x, y);
  const ModelConfig& c = config_;
  Backend& be = *backend_;
  const int64_t N = x.rows();
  Tensor logits = Tensor::zeros(DType::F32, {N, c.n_routed_experts});
  be.matmul(x, L.router, logits);  // {N, n_routed_experts}
  MoeRouteArgs ra = route_;
  ra.bias = L.router_bias.empty() ? nullptr : L.router_bias.f32();
  Tensor ids = Tensor::zeros(DType::I32, {N, ra.top_k});
  Tensor w = Tensor::zeros(DType::F32, {N, ra.top_k});
  be.moe_route(logits, ra, ids, w);         // {N, top_k} ids and weights
  if (c.n_shared_experts > 0) {
    const ExpertWeights shared{&L.shared.gate, &L.shared.up, &L.shared.down};
    be.moe_ffn_shared(x, ids, w, L.expert_refs, shared, y);  // {N, hidden}, shared expert added
  } else {
    be.moe_ffn(x, ids, w, L.expert_refs, y);  // {N, hidden}
  }
}

Result<Tensor> DeepSeekModel::forward(const std::vector<SeqInput>& batch) {
  const ModelConfig& c = config_;
  DSRT_ASSIGN_OR_RETURN(BatchLayout bl,
                        prepare_batch(batch, cache_values_per_token_layer(), c.vocab_size, "MLA cache"));
  const std::vector<int32_t>& tokens = bl.tokens;
  const std::vector<int32_t>& pos = bl.pos;
  const int64_t n_out = bl.n_out;
  const int64_t N = int64_t(tokens.size()), D = c.hidden_size;
  Backend& be = *backend_;
  Tensor h = Tensor::zeros(DType::F32, {N, D});
  be.embedding(embed_, tokens.data(), N, h);  // {N, hidden}
  Tensor xn = Tensor::zeros(DType::F32, {N, D}), t = Tensor::zeros(DType::F32, {N, D});
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    be.rms_norm(h, layers_[l].attn_norm, c.rms_norm_eps, xn);
    attention(l, xn, batch, pos, t);
    be.add(t, h);
    be.rms_norm(h, layers_[l].ffn_norm, c.rms_norm_eps, xn);
    ffn(layers_[l], xn, t);
    be.add(t, h);
  }
  // Only the rows whose logits are wanted go through the final norm and the LM head.
  Tensor sel = take_output_rows(batch, h, n_out);  // {n_out, hidden}
  be.rms_norm(sel, norm_, c.rms_norm_eps, sel);
  Tensor logits = Tensor::zeros(DType::F32, {n_out, c.vocab_size});
  be.matmul(sel, lm_head_, logits);  // {n_out, vocab}
  return logits;
}

Result<std::unique_ptr<Model>> load_deepseek(ModelConfig c,
                                             std::shared_ptr<const TensorSource> src,
                                             std::shared_ptr<Backend> b, const ModelOptions& o) {
  auto m = std::make_unique<DeepSeekModel>(std::move(c), std::move(b), o, std::move(src));
  DSRT_RETURN_IF_ERROR(m->load());
  return std::unique_ptr<Model>(std::move(m));
}

}  // namespace dsrt
