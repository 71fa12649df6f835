// Launchers for the CUDA kernels of backends/cuda. Host code (cuda_backend.cpp) calls these
// with device pointers and a stream; every launcher returns at once (asynchronous). The
// .cu files that define them contain only kernels and these launchers, so the host side
// never needs the CUDA compiler.
#pragma once

#include <cstdint>

#include "backends/cuda/gpu_runtime.h"
#include "core/dtype.h"

namespace dsrt::cuda {

// A weight resident on the device in its original storage format (the bytes of the host
// tensor, rows of row_bytes), plus the FP8 block scales when dtype is F8_E4M3.
struct DeviceWeight {
  DType dtype = DType::F32;
  const uint8_t* data = nullptr;  // rows * row_bytes
  int64_t rows = 0, cols = 0;
  int64_t row_bytes = 0;
  const float* scale = nullptr;  // F8: [scale_rows, scale_cols] of the parent tensor
  int64_t scale_cols = 0, scale_row0 = 0;
  int32_t scale_block = 0;
};

// True for the weight dtypes the decode kernels read: F32, F16, BF16, F8_E4M3 (block scaled),
// Q8_0, Q4_0, Q4_K, Q6_K.
bool weight_dtype_on_device(DType t);

// y[n, m] = x[n, k] * W[m, k]^T with the weight decoded on the fly (one warp per output
// row, all n rows of x at once); n <= kGemvMaxRows per launch.
constexpr int kGemvMaxRows = 8;
void launch_gemv(const DeviceWeight& w, const float* x, int64_t n, float* y, int64_t ldy,
                 gpuStream_t s);
// Decodes rows [r0, r0 + nr) of W into dst [nr, cols] float32, bit-identical to the host
// decoders (weight_row_to_f32), for the cuBLAS GEMM path.
void launch_dequant_rows(const DeviceWeight& w, int64_t r0, int64_t nr, float* dst, gpuStream_t s);
// y[n, m] = x[n, k] * W[k, m] (W rows of length m, decoded per element).
void launch_matmul_xw(const DeviceWeight& w, const float* x, int64_t n, float* y, gpuStream_t s);
// y[i] = decode(table row ids[i]).
void launch_embedding(const DeviceWeight& w, const int32_t* ids, int64_t n, float* y,
                      gpuStream_t s);

void launch_rms_norm(const float* x, const float* w, float eps, int64_t n, int64_t d, float* y,
                     gpuStream_t s);
void launch_softmax(float* x, int64_t n, int64_t d, gpuStream_t s);
void launch_silu_mul(const float* g, const float* u, float* y, int64_t n, gpuStream_t s);
void launch_add(const float* x, float* y, int64_t n, gpuStream_t s);

struct RopeDev {
  float* x;  // device view laid out as the host's (same strides)
  int64_t n_tok, n_head, stride_tok, stride_head, rope_dim;
  const int32_t* pos;
  const float* inv_freq;
  float attn_factor;
  bool interleaved;
};
void launch_rope(const RopeDev& a, gpuStream_t s);

struct AttentionDev {
  const float* q;
  int64_t q_stride_tok, q_stride_head;
  const float* k;
  int64_t k_stride_tok, k_stride_head;
  const float* v;
  int64_t v_stride_tok, v_stride_head;
  float* out;
  int64_t o_stride_tok, o_stride_head;
  int64_t n_tok, n_kv, n_head, n_head_kv, d_k, d_v;
  const int32_t* q_pos;
  float scale;
  const int32_t* kv_block_table;  // null: key j is row j
  int64_t kv_block_size;
};
void launch_attention(const AttentionDev& a, gpuStream_t s);

struct MoeRouteDev {
  int scoring_sigmoid;
  const float* bias;  // device [n_expert] or null
  int32_t n_group, topk_group, top_k;
  int group_by_top2_sum, norm_topk_prob;
  float routed_scaling_factor;
};
void launch_moe_route(const float* logits, int64_t n, int64_t n_expert, const MoeRouteDev& a,
                      int32_t* ids, float* weights, gpuStream_t s);
// dst[i] = src[rows[i]] for rows of d floats.
void launch_gather_rows(const float* src, const int32_t* rows, int64_t n, int64_t d, float* dst,
                        gpuStream_t s);
// dst[rows[i]] = src[i].
void launch_scatter_rows(const float* src, const int32_t* rows, int64_t n, int64_t d, float* dst,
                         gpuStream_t s);
// y[i] = sum_j w[i, j] * parts[i * k + j], j in order (deterministic, as cpu/ref sums).
void launch_weighted_sum(const float* parts, const float* w, int64_t n, int64_t k, int64_t d,
                         float* y, gpuStream_t s);

}  // namespace dsrt::cuda
