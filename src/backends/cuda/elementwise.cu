// Row and element kernels: rms_norm, softmax, silu_mul, add, rope. Float32 throughout with the
// accurate library functions (expf, sqrtf, sincosf; no fast-math), so the op-test NMSE bound
// for float32 kernels (1e-9 against the double reference) holds.
#include <cmath>

#include "backends/cuda/kernels.h"

namespace dsrt::cuda {
namespace {

using gpu::kGpuWarp;
constexpr int kRowThreads = 256;

// Block-wide reduction (sum or max) of one value per thread; every thread gets the result.
template <bool kMax>
__device__ float block_reduce(float v) {
  __shared__ float part[kRowThreads / 32 + 1];
#pragma unroll
  for (int o = kGpuWarp / 2; o > 0; o /= 2) {
    const float u = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, u) : v + u;
  }
  const int warp = threadIdx.x / kGpuWarp, lane = threadIdx.x % kGpuWarp;
  const int n_warps = blockDim.x / kGpuWarp;
  __syncthreads();  // part[] may still be read by a previous call
  if (lane == 0) part[warp] = v;
  __syncthreads();
  float r = kMax ? -INFINITY : 0.0f;
  for (int i = 0; i < n_warps; ++i) r = kMax ? fmaxf(r, part[i]) : r + part[i];
  return r;
}

__global__ void rms_norm_kernel(const float* __restrict__ x, const float* __restrict__ w, float eps,
                                int64_t d, float* __restrict__ y) {
  const float* xi = x + int64_t(blockIdx.x) * d;
  float* yi = y + int64_t(blockIdx.x) * d;
  float ss = 0.0f;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) ss = fmaf(xi[c], xi[c], ss);
  ss = block_reduce<false>(ss);
  const float r = 1.0f / sqrtf(ss / float(d) + eps);
  // x and y may alias (in place): each thread reads and writes only its own elements.
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) yi[c] = xi[c] * r * w[c];
}

__global__ void softmax_kernel(float* __restrict__ x, int64_t d) {
  float* p = x + int64_t(blockIdx.x) * d;
  float mx = -INFINITY;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) mx = fmaxf(mx, p[c]);
  mx = block_reduce<true>(mx);
  float sum = 0.0f;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) {
    const float e = expf(p[c] - mx);
    p[c] = e;
    sum += e;
  }
  sum = block_reduce<false>(sum);
  const float inv = 1.0f / sum;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) p[c] *= inv;
}

__global__ void silu_mul_kernel(const float* g, const float* u, float* y, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float gv = g[i];
    y[i] = gv / (1.0f + expf(-gv)) * u[i];
  }
}

__global__ void add_kernel(const float* x, float* y, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] += x[i];
}

// One thread per (token, rotary pair, head). The angle is formed in float32, as in DeepSeek's
// and HF's reference code and in cpu/ref.
__global__ void rope_kernel(RopeDev a) {
  const int64_t half = a.rope_dim / 2;
  const int64_t t_all = a.n_tok * half * a.n_head;
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= t_all) return;
  const int64_t h = t % a.n_head, i = (t / a.n_head) % half, tok = t / (a.n_head * half);
  const float ang = float(a.pos[tok]) * a.inv_freq[i];
  float sn, cs;
  sincosf(ang, &sn, &cs);
  const float c = cs * a.attn_factor, s = sn * a.attn_factor;
  float* p = a.x + tok * a.stride_tok + h * a.stride_head;
  const int64_t i0 = a.interleaved ? 2 * i : i;
  const int64_t i1 = a.interleaved ? 2 * i + 1 : i + half;
  const float x0 = p[i0], x1 = p[i1];
  p[i0] = x0 * c - x1 * s;
  p[i1] = x0 * s + x1 * c;
}

unsigned elementwise_blocks(int64_t n) {
  return unsigned(std::min<int64_t>((n + 255) / 256, 65535));
}

}  // namespace

void launch_rms_norm(const float* x, const float* w, float eps, int64_t n, int64_t d, float* y,
                     gpuStream_t s) {
  if (n == 0) return;
  rms_norm_kernel<<<unsigned(n), kRowThreads, 0, s>>>(x, w, eps, d, y);
}

void launch_softmax(float* x, int64_t n, int64_t d, gpuStream_t s) {
  if (n == 0) return;
  softmax_kernel<<<unsigned(n), kRowThreads, 0, s>>>(x, d);
}

void launch_silu_mul(const float* g, const float* u, float* y, int64_t n, gpuStream_t s) {
  if (n == 0) return;
  silu_mul_kernel<<<elementwise_blocks(n), 256, 0, s>>>(g, u, y, n);
}

void launch_add(const float* x, float* y, int64_t n, gpuStream_t s) {
  if (n == 0) return;
  add_kernel<<<elementwise_blocks(n), 256, 0, s>>>(x, y, n);
}

void launch_rope(const RopeDev& a, gpuStream_t s) {
  const int64_t n = a.n_tok * (a.rope_dim / 2) * a.n_head;
  if (n == 0) return;
  rope_kernel<<<unsigned((n + 255) / 256), 256, 0, s>>>(a);
}

}  // namespace dsrt::cuda
