// Weight-reading kernels: on-the-fly-decoding GEMV (decode and small batches), row
// dequantization for the cuBLAS GEMM path, matmul_xw and embedding. Accumulation is float32
// (fused multiply-add) over weights decoded exactly as the CPU decodes them, so the op-test
// harness's float32 dot-product bound (gamma_k * sum |x w|) applies unchanged.
#include "backends/cuda/decode.cuh"

namespace dsrt::cuda {
namespace {

using gpu::kGpuWarp;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = kGpuWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

constexpr int kGemvWarps = 4;  // output rows per block

// One warp per output row j: lanes stride over 8-element groups of the row (a warp reads
// 256 consecutive weights per step), every group is dotted with all NR rows of x, then the
// partial sums are reduced across the warp.
template <int NR>
__global__ void gemv_kernel(DeviceWeight w, const float* __restrict__ x, float* __restrict__ y,
                            int64_t ldy) {
  const int lane = threadIdx.x % kGpuWarp;
  const int64_t j = int64_t(blockIdx.x) * kGemvWarps + threadIdx.x / kGpuWarp;
  if (j >= w.rows) return;
  const int64_t k = w.cols, n_groups = k / 8;
  float acc[NR];
#pragma unroll
  for (int i = 0; i < NR; ++i) acc[i] = 0.0f;
  for (int64_t g = lane; g < n_groups; g += kGpuWarp) {
    float wv[8];
    decode8(w, j, g, wv);
#pragma unroll
    for (int i = 0; i < NR; ++i) {
      const float* xi = x + i * k + 8 * g;
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[i] = fmaf(xi[e], wv[e], acc[i]);
    }
  }
  for (int64_t c = 8 * n_groups + lane; c < k; c += kGpuWarp) {  // tail (float types only)
    const float wv = decode1(w, j, c);
#pragma unroll
    for (int i = 0; i < NR; ++i) acc[i] = fmaf(x[i * k + c], wv, acc[i]);
  }
#pragma unroll
  for (int i = 0; i < NR; ++i) {
    const float s = warp_sum(acc[i]);
    if (lane == 0) y[i * ldy + j] = s;
  }
}

template <int NR>
void gemv_n(const DeviceWeight& w, const float* x, float* y, int64_t ldy, gpuStream_t s) {
  const unsigned blocks = unsigned((w.rows + kGemvWarps - 1) / kGemvWarps);
  gemv_kernel<NR><<<blocks, kGemvWarps * kGpuWarp, 0, s>>>(w, x, y, ldy);
}

__global__ void dequant_rows_kernel(DeviceWeight w, int64_t r0, int64_t nr, float* dst) {
  const int64_t k = w.cols, groups = (k + 7) / 8;
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= nr * groups) return;
  const int64_t r = t / groups, g = t % groups;
  float* o = dst + r * k + 8 * g;
  if (8 * g + 8 <= k) {
    float v[8];
    decode8(w, r0 + r, g, v);
#pragma unroll
    for (int e = 0; e < 8; ++e) o[e] = v[e];
  } else {
    for (int64_t c = 8 * g; c < k; ++c) o[c - 8 * g] = decode1(w, r0 + r, c);
  }
}

// matmul_xw: thread per output column j; rows of W are read coalesced across the block.
constexpr int kXwRows = 8;
__global__ void matmul_xw_kernel(DeviceWeight w, const float* __restrict__ x, int64_t n,
                                 float* __restrict__ y) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t i0 = int64_t(blockIdx.y) * kXwRows;
  const int64_t k = w.rows, m = w.cols;
  if (j >= m) return;
  const int nr = int((n - i0 < kXwRows ? n - i0 : int64_t(kXwRows)));
  float acc[kXwRows];
#pragma unroll
  for (int i = 0; i < kXwRows; ++i) acc[i] = 0.0f;
  for (int64_t c = 0; c < k; ++c) {
    const float wv = decode1(w, c, j);
#pragma unroll
    for (int i = 0; i < kXwRows; ++i)
      if (i < nr) acc[i] = fmaf(x[(i0 + i) * k + c], wv, acc[i]);
  }
  for (int i = 0; i < nr; ++i) y[(i0 + i) * m + j] = acc[i];
}

__global__ void embedding_kernel(DeviceWeight w, const int32_t* __restrict__ ids, int64_t n,
                                 float* __restrict__ y) {
  const int64_t i = blockIdx.x;
  const int64_t r = ids[i];
  for (int64_t c = threadIdx.x; c < w.cols; c += blockDim.x) y[i * w.cols + c] = decode1(w, r, c);
}

}  // namespace

bool weight_dtype_on_device(DType t) {
  switch (t) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::F8_E4M3:
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

void launch_gemv(const DeviceWeight& w, const float* x, int64_t n, float* y, int64_t ldy,
                 gpuStream_t s) {
  switch (n) {
    case 1:
      return gemv_n<1>(w, x, y, ldy, s);
    case 2:
      return gemv_n<2>(w, x, y, ldy, s);
    case 3:
      return gemv_n<3>(w, x, y, ldy, s);
    case 4:
      return gemv_n<4>(w, x, y, ldy, s);
    case 5:
      return gemv_n<5>(w, x, y, ldy, s);
    case 6:
      return gemv_n<6>(w, x, y, ldy, s);
    case 7:
      return gemv_n<7>(w, x, y, ldy, s);
    case 8:
      return gemv_n<8>(w, x, y, ldy, s);
    default:
      DSRT_CHECK_MSG(false, "launch_gemv: n must be 1..8, got " + std::to_string(n));
  }
}

void launch_dequant_rows(const DeviceWeight& w, int64_t r0, int64_t nr, float* dst, gpuStream_t s) {
  const int64_t total = nr * ((w.cols + 7) / 8);
  if (total == 0) return;
  dequant_rows_kernel<<<unsigned((total + 255) / 256), 256, 0, s>>>(w, r0, nr, dst);
}

void launch_matmul_xw(const DeviceWeight& w, const float* x, int64_t n, float* y, gpuStream_t s) {
  if (n == 0 || w.cols == 0) return;
  const dim3 grid(unsigned((w.cols + 127) / 128), unsigned((n + kXwRows - 1) / kXwRows));
  matmul_xw_kernel<<<grid, 128, 0, s>>>(w, x, n, y);
}

void launch_embedding(const DeviceWeight& w, const int32_t* ids, int64_t n, float* y,
                      gpuStream_t s) {
  if (n == 0) return;
  embedding_kernel<<<unsigned(n), 256, 0, s>>>(w, ids, n, y);
}

}  // namespace dsrt::cuda
