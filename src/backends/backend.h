// The device contract. Model code calls these ops and never asks which device runs them; a
// backend answers supports() per op and weight type, and FallbackBackend sends what the
// primary cannot run to the CPU reference (as ggml's scheduler does), so a new accelerator
// can start with a few ops.
//
// Conventions: shapes outermost-first; activations are F32; weights may be any dtype that
// weight_row_to_f32 decodes (F32/F16/BF16/FP8 block-scaled/GGUF quant types). Matmul is
// y = x * W^T with W stored [out, in] as in Hugging Face and GGUF files.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace dsrt {

enum class Op {
  Matmul,     // y[n, m] = x[n, k] * W[m, k]^T
  MatmulXW,   // y[n, m] = x[n, k] * W[k, m]   (W used untransposed: MLA's absorbed W_UK)
  RmsNorm,    // y = x * rsqrt(mean(x^2) + eps) * w, per row
  Rope,       // rotary embedding in place on strided heads
  Softmax,    // per row, in place
  SiluMul,    // y = silu(g) * u
  Add,        // y += x
  Embedding,  // y[i] = table[ids[i]]
  Attention,  // causal softmax(q k^T * scale) v over a cache, GQA/MQA by head sharing
  MoeRoute,   // DeepSeekMoE gate: scores -> top-k expert ids and weights
  MoeFfn,     // sum over chosen experts of w * down(silu(gate x) * up x)
  kCount,
};
const char* op_name(Op op);
bool op_from_name(const std::string& name, Op* op);

struct RopeArgs {
  float* x = nullptr;         // first element of the rotary part of head 0 of token 0
  int64_t n_tok = 0;
  int64_t n_head = 0;
  int64_t stride_tok = 0;     // floats between tokens
  int64_t stride_head = 0;    // floats between heads
  int64_t rope_dim = 0;       // rotated dims (even)
  const int32_t* pos = nullptr;  // [n_tok] absolute positions
  const float* inv_freq = nullptr;  // [rope_dim / 2] (YaRN / llama3 scaling already applied)
  float attn_factor = 1.0f;   // multiplies cos and sin (HF YaRN's mscale ratio)
  bool interleaved = false;   // pairs (2i, 2i+1) (DeepSeek) or (i, i + d/2) (Llama/Qwen2 "neox")
};

// Causal attention. Query token i at absolute position q_pos[i] attends keys 0..q_pos[i]
// (key j sits at position j). Head h of the queries reads KV head h / (n_head / n_head_kv).
struct AttentionArgs {
  const float* q = nullptr;  // [n_tok, n_head, d_k] strided
  int64_t q_stride_tok = 0, q_stride_head = 0;
  const float* k = nullptr;  // [n_kv, n_head_kv, d_k] strided
  int64_t k_stride_tok = 0, k_stride_head = 0;
  const float* v = nullptr;  // [n_kv, n_head_kv, d_v] strided
  int64_t v_stride_tok = 0, v_stride_head = 0;
  float* out = nullptr;      // [n_tok, n_head, d_v] strided
  int64_t o_stride_tok = 0, o_stride_head = 0;
  int64_t n_tok = 0, n_kv = 0, n_head = 0, n_head_kv = 0, d_k = 0, d_v = 0;
  const int32_t* q_pos = nullptr;
  float scale = 1.0f;
  // Paged KV cache: when kv_block_table is set, key/value j lives in arena row
  // kv_block_table[j / kv_block_size] * kv_block_size + j % kv_block_size (k and v point at
  // the arena's row 0). Otherwise row j.
  const int32_t* kv_block_table = nullptr;
  int64_t kv_block_size = 0;
  int64_t kv_row(int64_t j) const {
    return kv_block_table ? int64_t(kv_block_table[j / kv_block_size]) * kv_block_size + j % kv_block_size
                          : j;
  }
};

enum class ScoringFunc { Softmax, Sigmoid };

struct MoeRouteArgs {
  ScoringFunc scoring = ScoringFunc::Softmax;
  const float* bias = nullptr;  // [n_expert] e_score_correction_bias, selection only
  int32_t n_group = 1, topk_group = 1, top_k = 1;
  bool group_by_top2_sum = false;  // noaux_tc: group score = sum of its top-2 biased scores
  bool norm_topk_prob = false;     // renormalise the chosen weights to sum 1
  float routed_scaling_factor = 1.0f;
};

// One expert's SwiGLU MLP: down(silu(gate x) * up x).
struct ExpertWeights {
  const Tensor* gate = nullptr;  // [ffn, dim]
  const Tensor* up = nullptr;    // [ffn, dim]
  const Tensor* down = nullptr;  // [dim, ffn]
};

// One of several independent products y = x · Wᵀ handed over together (matmul_batch).
struct MatmulJob {
  const Tensor* x = nullptr;
  const Tensor* w = nullptr;
  Tensor* y = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual bool supports(Op op, DType weight_type = DType::F32) const = 0;

  virtual void matmul(const Tensor& x, const Tensor& w, Tensor& y) = 0;
  // Independent matmuls, e.g. MLA's per-head absorbed matrices in decode; a backend may run
  // them as one parallel region. The default runs them one after the other.
  virtual void matmul_batch(const std::vector<MatmulJob>& jobs) {
    for (const MatmulJob& j : jobs) matmul(*j.x, *j.w, *j.y);
  }
  virtual void matmul_xw(const Tensor& x, const Tensor& w, Tensor& y) = 0;
  // Whether matmul_xw runs at GEMM speed for prefill-sized x, so that DeepSeek's default MLA
  // form (AttnForm::Auto) may expand a prompt's K/V through it. False keeps Auto absorbed.
  virtual bool fast_matmul_xw() const { return false; }
  virtual void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) = 0;
  virtual void rope(const RopeArgs& a) = 0;
  virtual void softmax(Tensor& x) = 0;
  virtual void silu_mul(const Tensor& g, const Tensor& u, Tensor& y) = 0;
  virtual void add(const Tensor& x, Tensor& y) = 0;
  virtual void embedding(const Tensor& table, const int32_t* ids, int64_t n, Tensor& y) = 0;
  virtual void attention(const AttentionArgs& a) = 0;
  // Independent attention calls, e.g. every sequence of a batched decode step for one layer;
  // a backend may run them as one parallel region. The default runs them one by one.
  virtual void attention_batch(const std::vector<AttentionArgs>& list) {
    for (const AttentionArgs& a : list) attention(a);
  }
  // logits [n, n_expert] (router output) -> ids [n, top_k] (I32) and weights [n, top_k].
  virtual void moe_route(const Tensor& logits, const MoeRouteArgs& a, Tensor& ids,
                         Tensor& weights) = 0;
  // y[n, dim] = sum_j weights[i, j] * expert[ids[i, j]](x[i]); y is overwritten.
  virtual void moe_ffn(const Tensor& x, const Tensor& ids, const Tensor& weights,
                       const std::vector<ExpertWeights>& experts, Tensor& y) = 0;
  // moe_ffn plus an always-active (shared) expert of weight 1: y = moe_ffn(...) + shared(x).
  // A backend may run the shared expert inside the routed experts' parallel work; the
  // default runs moe_ffn, then the shared MLP with matmul_batch / silu_mul / matmul / add.
  virtual void moe_ffn_shared(const Tensor& x, const Tensor& ids, const Tensor& weights,
                              const std::vector<ExpertWeights>& experts, const ExpertWeights& shared,
                              Tensor& y);
};

// The plain scalar reference, kept forever as the oracle for every other kernel.
std::unique_ptr<Backend> make_cpu_ref_backend();
// How cpu/opt runs matmuls on block-quantized weights. Best: activations quantized to 8 bits
// and integer dot products, AVX2 where the build targets it ("cpu"). Generic: the same
// arithmetic in portable C++, the path ARM builds run ("cpu-generic"). DecodeF32: decode each
// weight row to float and take a float dot, exact up to float rounding ("cpu-decode"; the
// baseline of the benchmarks).
enum class QuantKernels { Best, Generic, DecodeF32 };
struct CpuOptOptions {
  QuantKernels quant = QuantKernels::Best;
};
// The optimized CPU backend (threads, contiguous SIMD-friendly loops); ops it does not
// accelerate are forwarded to the reference.
std::unique_ptr<Backend> make_cpu_opt_backend(std::shared_ptr<ThreadPool> pool,
                                              CpuOptOptions options = {});
// Routes each op to `primary` when it supports it, else to `fallback`.
std::unique_ptr<Backend> make_fallback_backend(std::unique_ptr<Backend> primary,
                                               std::unique_ptr<Backend> fallback);
// By name: "cpu" (= optimized with reference fallback), "cpu-generic" / "cpu-decode" (the same
// with QuantKernels::Generic / DecodeF32), or "cpu-ref".
Result<std::unique_ptr<Backend>> make_backend(const std::string& name, int n_threads);
std::vector<std::string> backend_names();

}  // namespace dsrt
