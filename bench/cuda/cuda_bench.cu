// cuda_bench: times the CUDA backend's weight kernels on DeepSeek-V2-Lite shapes (hidden 2048,
// 16 heads, q 16x192, kv_lora_rank 512, expert FFN 1408) and states each result against this
// GPU's own measured limits:
//   - HBM: a float4 copy kernel over 2 GiB (bytes read + written per second);
//   - matrix peak: cuBLAS BF16 GEMM 8192^3 with float32 accumulation.
// Decode (n = 1) and small batches run the on-the-fly-decoding GEMV: reported as GB/s of
// weight read and as a fraction of the measured copy bandwidth, plus the decode tokens/s that
// bandwidth implies for V2-Lite's active weights (~2.4 B parameters per token). Prefill
// (n = 512) runs the dequantize + cuBLAS float32 path: TFLOP/s and fraction of the BF16 peak,
// beside what a BF16 tensor-core GEMM does on the same shape.
//
// Usage: cuda_bench [--reps N] [--quick]
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "backends/cuda/gpu_runtime.h"
#include "backends/cuda/kernels.h"

namespace {

using dsrt::DType;
using dsrt::cuda::DeviceWeight;

#define CK(x) DSRT_GPU_CHECK(x)

__global__ void copy_kernel(const float4* __restrict__ src, float4* __restrict__ dst, size_t n) {
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x)
    dst[i] = src[i];
}

// Deterministic pseudo-random bytes (a hash of the index), then per-format fix-ups so every
// decoded weight is finite: F16 scale fields are set to small normal values.
__global__ void fill_kernel(uint8_t* p, size_t n, uint32_t seed) {
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    uint32_t h = uint32_t(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    p[i] = uint8_t(h);
  }
}
__global__ void fix_bf16(uint16_t* p, size_t n) {  // random mantissa, exponent near 1
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x)
    p[i] = uint16_t(0x3c00 | (p[i] & 0x807f));
}
__global__ void fix_q4k(uint8_t* p, size_t n_blocks) {  // d = dmin = 2^-10 (f16 0x1400)
  for (size_t b = size_t(blockIdx.x) * blockDim.x + threadIdx.x; b < n_blocks;
       b += size_t(gridDim.x) * blockDim.x) {
    uint8_t* q = p + b * 144;
    q[0] = 0x00, q[1] = 0x14, q[2] = 0x00, q[3] = 0x14;
  }
}

struct Timer {
  gpuEvent_t a, b;
  Timer() {
    CK(gpuEventCreate(&a));
    CK(gpuEventCreate(&b));
  }
  ~Timer() {
    gpuEventDestroy(a);
    gpuEventDestroy(b);
  }
  // Mean milliseconds per call of f over reps calls, after 3 warm-up calls.
  template <class F>
  double ms(F f, int reps, gpuStream_t s) {
    for (int i = 0; i < 3; ++i) f();
    CK(gpuEventRecord(a, s));
    for (int i = 0; i < reps; ++i) f();
    CK(gpuEventRecord(b, s));
    CK(gpuEventSynchronize(b));
    float t = 0;
    CK(gpuEventElapsedTime(&t, a, b));
    return double(t) / reps;
  }
};

void* dmalloc(size_t bytes) {
  void* p = nullptr;
  CK(gpuMalloc(&p, bytes));
  return p;
}

struct Shape {
  const char* name;
  int64_t m, k;    // W [m, k]
  double per_tok;  // how many times a token reads this matrix in V2-Lite (layers x experts)
};

}  // namespace

int main(int argc, char** argv) {
  int reps = 50;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc)
      reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--quick"))
      quick = true;
    else {
      std::fprintf(stderr, "usage: cuda_bench [--reps N] [--quick]\n");
      return 2;
    }
  }
  int n_dev = 0;
  if (gpuGetDeviceCount(&n_dev) != gpuSuccess || n_dev == 0) {
    std::printf("no CUDA device: cuda_bench has nothing to measure\n");
    return 0;
  }
  gpuDeviceProp prop;
  CK(gpuGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs, %.0f MiB L2\n", prop.name, prop.multiProcessorCount,
              prop.l2CacheSize / 1048576.0);
  gpuStream_t s;
  CK(gpuStreamCreateWithFlags(&s, gpuStreamNonBlocking));
  cublasHandle_t blas;
  DSRT_BLAS_CHECK(cublasCreate(&blas));
  DSRT_BLAS_CHECK(cublasSetStream(blas, s));
  Timer tm;

  // ---- measured limits ----
  const size_t copy_bytes = size_t(quick ? 1 : 2) << 30;
  auto* src = static_cast<float4*>(dmalloc(copy_bytes));
  auto* dst = static_cast<float4*>(dmalloc(copy_bytes));
  CK(gpuMemsetAsync(src, 0, copy_bytes, s));
  const size_t n4 = copy_bytes / 16;
  const double copy_ms =
      tm.ms([&] { copy_kernel<<<prop.multiProcessorCount * 8, 512, 0, s>>>(src, dst, n4); },
            quick ? 5 : 20, s);
  const double bw = 2.0 * double(copy_bytes) / (copy_ms * 1e-3);  // read + write
  std::printf("HBM copy kernel: %.0f GB/s (read+write)\n", bw / 1e9);
  CK(gpuFree(src));
  CK(gpuFree(dst));

  const int P = quick ? 4096 : 8192;
  void* pa = dmalloc(size_t(P) * P * 2);
  void* pb = dmalloc(size_t(P) * P * 2);
  void* pc = dmalloc(size_t(P) * P * 2);
  fill_kernel<<<1024, 256, 0, s>>>(static_cast<uint8_t*>(pa), size_t(P) * P * 2, 1);
  fill_kernel<<<1024, 256, 0, s>>>(static_cast<uint8_t*>(pb), size_t(P) * P * 2, 2);
  fix_bf16<<<1024, 256, 0, s>>>(static_cast<uint16_t*>(pa), size_t(P) * P);
  fix_bf16<<<1024, 256, 0, s>>>(static_cast<uint16_t*>(pb), size_t(P) * P);
  const float one = 1.0f, zero = 0.0f;
  const double peak_ms = tm.ms(
      [&] {
        DSRT_BLAS_CHECK(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, P, P, P, &one, pa, CUDA_R_16BF,
                                     P, pb, CUDA_R_16BF, P, &zero, pc, CUDA_R_16BF, P,
                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      },
      quick ? 3 : 10, s);
  const double peak = 2.0 * P * double(P) * P / (peak_ms * 1e-3);
  std::printf("cuBLAS BF16 GEMM %d^3: %.0f TFLOP/s\n\n", P, peak / 1e12);
  CK(gpuFree(pa));
  CK(gpuFree(pb));
  CK(gpuFree(pc));

  // ---- V2-Lite matrices: per token 27 layers of attention, 26 MoE layers x (6 routed + 2
  // shared) experts of gate/up/down; the dense first layer and lm_head are left out of the
  // shape list but counted in the active bytes below. ----
  const std::vector<Shape> shapes = {{"q_proj 3072x2048", 3072, 2048, 27},
                                     {"kv_a 576x2048", 576, 2048, 27},
                                     {"kv_b 4096x512", 4096, 512, 27},
                                     {"o_proj 2048x2048", 2048, 2048, 27},
                                     {"expert gate/up 1408x2048", 1408, 2048, 26 * 8 * 2},
                                     {"expert down 2048x1408", 2048, 1408, 26 * 8}};
  // Active parameters per token: the shapes above + dense layer 0 FFN (3 x 10944 x 2048) +
  // lm_head (102400 x 2048).
  double active_params = 3.0 * 10944 * 2048 + 102400.0 * 2048;
  for (const Shape& sh : shapes) active_params += double(sh.m) * sh.k * sh.per_tok;
  std::printf("V2-Lite active weights per token: %.2f B parameters\n\n", active_params / 1e9);

  const int64_t max_n = 512;
  float* x = static_cast<float*>(dmalloc(size_t(max_n) * 4096 * 4));
  float* y = static_cast<float*>(dmalloc(size_t(max_n) * 4096 * 4));
  float* deq = static_cast<float*>(dmalloc(size_t(4096) * 2048 * 4));
  CK(gpuMemsetAsync(x, 0, size_t(max_n) * 4096 * 4, s));

  std::printf("%-8s %-26s %5s %10s %10s %8s %10s %9s\n", "weight", "matrix", "n", "us", "GB/s",
              "of BW", "TFLOP/s", "of peak");
  for (DType dt : {DType::BF16, DType::Q4_K}) {
    const double bytes_per_w = dt == DType::BF16 ? 2.0 : 144.0 / 256.0;
    double t_token = 0, bytes_token = 0;  // n = 1 mix, weighted by reads per token
    for (const Shape& sh : shapes) {
      if (dt == DType::Q4_K && sh.k % 256 != 0) {
        std::printf(
            "%-8s %-26s  (k=%lld not a multiple of 256: Q4_K n/a, GGUF stores it in "
            "another type)\n",
            "Q4_K", sh.name, (long long)sh.k);
        continue;
      }
      const size_t row_bytes = size_t(double(sh.k) * bytes_per_w);
      const size_t wbytes = row_bytes * size_t(sh.m);
      auto* wd = static_cast<uint8_t*>(dmalloc(wbytes));
      fill_kernel<<<1024, 256, 0, s>>>(wd, wbytes, 3);
      if (dt == DType::BF16)
        fix_bf16<<<1024, 256, 0, s>>>(reinterpret_cast<uint16_t*>(wd), wbytes / 2);
      else
        fix_q4k<<<1024, 256, 0, s>>>(wd, wbytes / 144);
      DeviceWeight w;
      w.dtype = dt;
      w.data = wd;
      w.rows = sh.m;
      w.cols = sh.k;
      w.row_bytes = int64_t(row_bytes);
      for (int64_t n : {int64_t(1), int64_t(8), max_n}) {
        double ms;
        if (n <= dsrt::cuda::kGemvMaxRows) {
          ms = tm.ms([&] { dsrt::cuda::launch_gemv(w, x, n, y, sh.m, s); }, reps, s);
        } else {
          ms = tm.ms(
              [&] {
                dsrt::cuda::launch_dequant_rows(w, 0, sh.m, deq, s);
                DSRT_BLAS_CHECK(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, int(sh.m), int(n),
                                             int(sh.k), &one, deq, CUDA_R_32F, int(sh.k), x,
                                             CUDA_R_32F, int(sh.k), &zero, y, CUDA_R_32F, int(sh.m),
                                             CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT));
              },
              std::max(3, reps / 5), s);
        }
        const double sec = ms * 1e-3;
        const double moved = double(wbytes) + double(n) * (sh.k + sh.m) * 4.0;
        const double flops = 2.0 * double(n) * sh.m * sh.k;
        std::printf("%-8s %-26s %5lld %10.1f %10.0f %7.0f%% %10.2f %8.1f%%\n",
                    std::string(dsrt::dtype_name(dt)).c_str(), sh.name, (long long)n, ms * 1e3,
                    moved / sec / 1e9, 100.0 * moved / sec / bw, flops / sec / 1e12,
                    100.0 * flops / sec / peak);
        if (n == 1) {
          t_token += sec * sh.per_tok;
          bytes_token += double(wbytes) * sh.per_tok;
        }
      }
      CK(gpuFree(wd));
    }
    if (bytes_token > 0) {
      const double achieved = bytes_token / t_token;
      const double active_bytes = active_params * bytes_per_w;
      std::printf(
          "%s decode GEMV mix: %.0f GB/s = %.0f%% of measured copy bandwidth -> "
          "~%.0f tokens/s-equivalent for V2-Lite's %.2f GB of active weights "
          "(bandwidth ceiling %.0f tokens/s)\n\n",
          std::string(dsrt::dtype_name(dt)).c_str(), achieved / 1e9, 100.0 * achieved / bw,
          achieved / active_bytes, active_bytes / 1e9, bw / active_bytes);
    }
  }
  // What a BF16 tensor-core GEMM (activations rounded to BF16) gives on the prefill shape, for
  // comparison with the float32 path above.
  {
    const int64_t m = 1408, k = 2048, n = max_n;
    void* a = dmalloc(size_t(m) * k * 2);
    void* b = dmalloc(size_t(n) * k * 2);
    void* c = dmalloc(size_t(n) * m * 4);
    fill_kernel<<<1024, 256, 0, s>>>(static_cast<uint8_t*>(a), size_t(m) * k * 2, 4);
    fill_kernel<<<1024, 256, 0, s>>>(static_cast<uint8_t*>(b), size_t(n) * k * 2, 5);
    fix_bf16<<<1024, 256, 0, s>>>(static_cast<uint16_t*>(a), size_t(m) * k);
    fix_bf16<<<1024, 256, 0, s>>>(static_cast<uint16_t*>(b), size_t(n) * k);
    const double ms = tm.ms(
        [&] {
          DSRT_BLAS_CHECK(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, int(m), int(n), int(k), &one,
                                       a, CUDA_R_16BF, int(k), b, CUDA_R_16BF, int(k), &zero, c,
                                       CUDA_R_32F, int(m), CUBLAS_COMPUTE_32F,
                                       CUBLAS_GEMM_DEFAULT));
        },
        reps, s);
    const double tf = 2.0 * double(n) * m * k / (ms * 1e-3);
    std::printf(
        "reference: cuBLAS BF16 GEMM 1408x2048, n=%lld: %.1f us, %.1f TFLOP/s (%.1f%% of "
        "peak)\n",
        (long long)n, ms * 1e3, tf / 1e12, 100.0 * tf / peak);
    CK(gpuFree(a));
    CK(gpuFree(b));
    CK(gpuFree(c));
  }
  CK(gpuFree(x));
  CK(gpuFree(y));
  CK(gpuFree(deq));
  cublasDestroy(blas);
  gpuStreamDestroy(s);
  return 0;
}
