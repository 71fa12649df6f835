// Causal attention over a (possibly paged) KV cache: one block per (query token, head), keys
// streamed in tiles with an online softmax (running max m and sum l; the accumulator is
// rescaled by exp(m_old - m_new) when the max grows), so any number of keys fits in a fixed
// amount of shared memory. GQA/MQA: head h reads KV head h / (n_head / n_head_kv).
//
// Numerics: scores and the weighted sum accumulate in float32 (expf, no fast-math); for the
// 4097-key op test the relative error stays near sqrt(n_kv) * 2^-24, far inside the harness's
// NMSE bound of 1e-9.
#include <cmath>

#include "backends/cuda/kernels.h"

namespace dsrt::cuda {
namespace {

using gpu::kGpuWarp;
constexpr int kAttnThreads = 128;
constexpr int kKeyTile = 64;

__device__ __forceinline__ int64_t kv_row(const AttentionDev& a, int64_t j) {
  return a.kv_block_table ? int64_t(a.kv_block_table[j / a.kv_block_size]) * a.kv_block_size +
                                j % a.kv_block_size
                          : j;
}

__global__ void attention_kernel(AttentionDev a) {
  extern __shared__ float smem[];
  float* q = smem;         // [d_k]
  float* acc = q + a.d_k;  // [d_v]
  float* p = acc + a.d_v;  // [kKeyTile] scores, then probabilities
  const int64_t t = blockIdx.x, h = blockIdx.y;
  const int64_t hk = h / (a.n_head / a.n_head_kv);
  const int tid = threadIdx.x, lane = tid % kGpuWarp, warp = tid / kGpuWarp;
  const int n_warps = kAttnThreads / kGpuWarp;

  const float* qg = a.q + t * a.q_stride_tok + h * a.q_stride_head;
  for (int64_t c = tid; c < a.d_k; c += kAttnThreads) q[c] = qg[c];
  for (int64_t c = tid; c < a.d_v; c += kAttnThreads) acc[c] = 0.0f;
  __syncthreads();

  const int64_t n_vis = int64_t(a.q_pos[t]) + 1 < a.n_kv ? int64_t(a.q_pos[t]) + 1 : a.n_kv;
  float m = -INFINITY, l = 0.0f;
  for (int64_t j0 = 0; j0 < n_vis; j0 += kKeyTile) {
    const int cnt = int(n_vis - j0 < kKeyTile ? n_vis - j0 : int64_t(kKeyTile));
    for (int jj = warp; jj < cnt; jj += n_warps) {
      const float* kr = a.k + kv_row(a, j0 + jj) * a.k_stride_tok + hk * a.k_stride_head;
      float d = 0.0f;
      for (int64_t c = lane; c < a.d_k; c += kGpuWarp) d = fmaf(q[c], kr[c], d);
#pragma unroll
      for (int o = kGpuWarp / 2; o > 0; o /= 2) d += __shfl_xor_sync(0xffffffffu, d, o);
      if (lane == 0) p[jj] = d * a.scale;
    }
    __syncthreads();
    float tmax = -INFINITY;
    for (int jj = 0; jj < cnt; ++jj) tmax = fmaxf(tmax, p[jj]);
    const float m_new = fmaxf(m, tmax);
    const float alpha = expf(m - m_new);  // 0 on the first tile (m = -inf)
    __syncthreads();                      // everyone has read the raw scores
    if (tid < cnt) p[tid] = expf(p[tid] - m_new);
    __syncthreads();
    float psum = 0.0f;
    for (int jj = 0; jj < cnt; ++jj) psum += p[jj];
    l = l * alpha + psum;
    m = m_new;
    for (int64_t c = tid; c < a.d_v; c += kAttnThreads) {
      float s = acc[c] * alpha;
      for (int jj = 0; jj < cnt; ++jj)
        s = fmaf(p[jj], a.v[kv_row(a, j0 + jj) * a.v_stride_tok + hk * a.v_stride_head + c], s);
      acc[c] = s;
    }
    __syncthreads();  // p[] is rewritten by the next tile
  }
  float* og = a.out + t * a.o_stride_tok + h * a.o_stride_head;
  for (int64_t c = tid; c < a.d_v; c += kAttnThreads) og[c] = acc[c] / l;
}

}  // namespace

void launch_attention(const AttentionDev& a, gpuStream_t s) {
  if (a.n_tok == 0 || a.n_head == 0) return;
  const size_t smem = size_t(a.d_k + a.d_v + kKeyTile) * sizeof(float);
  DSRT_CHECK_MSG(smem <= 48 * 1024, "attention: d_k + d_v too large for the CUDA kernel");
  const dim3 grid(unsigned(a.n_tok), unsigned(a.n_head));
  attention_kernel<<<grid, kAttnThreads, smem, s>>>(a);
}

}  // namespace dsrt::cuda
