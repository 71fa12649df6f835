#include "suite/microbench.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <thread>

#include "core/mmap_file.h"
#include "suite/stats.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DSRT_SUITE_X86 1
#endif

namespace dsrt::suite {
namespace {

// Runs fn(t) on `threads` threads at once and returns the wall time of the slowest.
template <class F>
double run_threads(int threads, F&& fn) {
  std::vector<std::thread> ts;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  Clock::time_point t0;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      fn(t);
    });
  while (ready.load() < threads) std::this_thread::yield();
  t0 = Clock::now();
  go.store(true, std::memory_order_release);
  for (auto& th : ts) th.join();
  return seconds_since(t0);
}

// The read probe's buffer, on transparent huge pages where the kernel offers them, as the
// weights are (core/mmap_file.h): on this virtual machine 4 KiB pages cost a 2-thread read a
// third of its rate (27-34 against 46-50 GB/s), and the ceiling that decode is held to should
// be the memory's, not the page tables'. bad_alloc when there is no memory for it.
std::shared_ptr<uint8_t> probe_buffer(size_t bytes) {
  std::shared_ptr<uint8_t> b = alloc_huge(bytes);
  if (!b) throw std::bad_alloc();
  return b;
}

}  // namespace

std::vector<double> read_bandwidth_gbs(size_t bytes, int threads, int passes) {
  const size_t n = std::max<size_t>(bytes / 8, 1024);
  const std::shared_ptr<uint8_t> buf = probe_buffer(n * sizeof(uint64_t));
  std::vector<double> out;
  std::vector<uint64_t> sums(size_t(threads) * 8);
  for (int pass = 0; pass <= passes; ++pass) {
    const double s = run_threads(threads, [&](int t) {
      const size_t b = n * t / threads, e = n * (t + 1) / threads;
      auto* p = reinterpret_cast<uint64_t*>(buf.get());
      if (pass == 0) {  // fault the pages in with the thread that reads them (first touch)
        for (size_t i = b; i < e; ++i) p[i] = i;
      }
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (size_t i = b; i + 4 <= e; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
      }
      sums[size_t(t) * 8] = s0 + s1 + s2 + s3;
    });
    keep(sums);
    if (pass > 0) out.push_back(double(n * 8) / s / 1e9);
  }
  return out;
}

std::vector<double> triad_bandwidth_gbs(size_t bytes, int threads, int passes) {
  const size_t n = std::max<size_t>(bytes / 24, 1024);
  std::unique_ptr<double[]> a(new double[n]), b(new double[n]), c(new double[n]);
  std::vector<double> out;
  for (int pass = 0; pass <= passes; ++pass) {
    const double s = run_threads(threads, [&](int t) {
      const size_t lo = n * t / threads, hi = n * (t + 1) / threads;
      double *pa = a.get(), *pb = b.get(), *pc = c.get();
      if (pass == 0)
        for (size_t i = lo; i < hi; ++i) pa[i] = 0, pb[i] = 1.0, pc[i] = 2.0;
      const double scalar = 3.0;
      for (size_t i = lo; i < hi; ++i) pa[i] = pb[i] + scalar * pc[i];
    });
    keep(a[n / 2]);
    if (pass > 0) out.push_back(double(n) * 24 / s / 1e9);
  }
  return out;
}

const char* simd_path_name(SimdPath p) { return p == SimdPath::Avx2 ? "avx2" : "portable"; }

bool cpu_has_avx2_fma() {
#ifdef DSRT_SUITE_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

namespace {

constexpr int64_t kInner = 1 << 14;  // iterations between clock checks

#ifdef DSRT_SUITE_X86
// 12 independent accumulator chains: enough to cover FMA latency x issue width (4 x 2 on
// current x86 cores). Returns flops done.
__attribute__((target("avx2,fma"))) double fma_avx2(double seconds, float* sink) {
  __m256 a[12];
  for (int j = 0; j < 12; ++j) a[j] = _mm256_set1_ps(1.0f + 0.01f * float(j));
  const __m256 b = _mm256_set1_ps(0.99999f), c = _mm256_set1_ps(1e-6f);
  double flops = 0;
  const auto t0 = Clock::now();
  do {
    for (int64_t i = 0; i < kInner; ++i)
      for (int j = 0; j < 12; ++j) a[j] = _mm256_fmadd_ps(a[j], b, c);
    flops += double(kInner) * 12 * 8 * 2;
  } while (seconds_since(t0) < seconds);
  __m256 s = a[0];
  for (int j = 1; j < 12; ++j) s = _mm256_add_ps(s, a[j]);
  float tmp[8];
  _mm256_storeu_ps(tmp, s);
  *sink = tmp[0];
  return flops;
}

// vpmaddubsw (u8 x s8 pairs -> s16) then vpmaddwd with ones (-> s32) and an add: 32
// multiply-accumulates per instruction triple, 8 independent chains. The empty asm makes the
// compiler treat the inputs as changed every iteration, so it cannot hoist the products.
__attribute__((target("avx2"))) double int8_avx2(double seconds, int32_t* sink) {
  __m256i acc[8];
  __m256i x = _mm256_set1_epi8(3), y[8];
  for (int j = 0; j < 8; ++j) acc[j] = _mm256_setzero_si256(), y[j] = _mm256_set1_epi8(int8_t(j - 4));
  const __m256i ones = _mm256_set1_epi16(1);
  double ops = 0;
  const auto t0 = Clock::now();
  do {
    for (int64_t i = 0; i < kInner; ++i) {
      asm volatile("" : "+x"(x));
      for (int j = 0; j < 8; ++j)
        acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(_mm256_maddubs_epi16(x, y[j]), ones));
    }
    ops += double(kInner) * 8 * 32 * 2;
  } while (seconds_since(t0) < seconds);
  __m256i s = acc[0];
  for (int j = 1; j < 8; ++j) s = _mm256_add_epi32(s, acc[j]);
  *sink = _mm256_extract_epi32(s, 0);
  return ops;
}
#endif

// Plain C++: 64 independent float multiply-adds per step; the compiler may vectorize it with
// whatever the build targets.
double fma_portable(double seconds, float* sink) {
  float a[64];
  for (int j = 0; j < 64; ++j) a[j] = 1.0f + 0.001f * float(j);
  const float b = 0.99999f, c = 1e-6f;
  double flops = 0;
  const auto t0 = Clock::now();
  do {
    for (int64_t i = 0; i < kInner / 8; ++i)
      for (int j = 0; j < 64; ++j) a[j] = a[j] * b + c;
    flops += double(kInner / 8) * 64 * 2;
  } while (seconds_since(t0) < seconds);
  float s = 0;
  for (float v : a) s += v;
  *sink = s;
  return flops;
}

// Plain C++ int8 dot products: 256 int8 x int8 products summed into 32 int32 lanes per step.
// The empty asm makes the compiler assume the input pointers changed, so it reloads the inputs
// each step but keeps the accumulators in registers.
double int8_portable(double seconds, int32_t* sink) {
  alignas(64) int8_t x[256], y[256];
  for (int i = 0; i < 256; ++i) x[i] = int8_t(i * 7 - 100), y[i] = int8_t(50 - i * 3);
  int32_t acc[32] = {};
  const int8_t* px = x;
  const int8_t* py = y;
  double ops = 0;
  const auto t0 = Clock::now();
  do {
    for (int64_t it = 0; it < kInner / 16; ++it) {
      asm volatile("" : "+r"(px), "+r"(py));
      for (int b = 0; b < 256; b += 32)
        for (int i = 0; i < 32; ++i) acc[i] += int32_t(px[b + i]) * int32_t(py[b + i]);
    }
    ops += double(kInner / 16) * 256 * 2;
  } while (seconds_since(t0) < seconds);
  int32_t s = 0;
  for (int32_t v : acc) s += v;
  *sink = s;
  return ops;
}

template <class Sink, class F>
std::vector<double> peak(int threads, double seconds, int passes, F&& loop) {
  std::vector<double> out;
  for (int pass = 0; pass < passes; ++pass) {
    std::vector<double> work(static_cast<size_t>(threads));
    std::vector<Sink> sinks(size_t(threads) * 16);
    const double s = run_threads(threads, [&](int t) { work[size_t(t)] = loop(seconds, &sinks[size_t(t) * 16]); });
    keep(sinks);
    double total = 0;
    for (double w : work) total += w;
    out.push_back(total / s / 1e9);
  }
  return out;
}

}  // namespace

std::vector<double> fp32_peak_gflops(SimdPath path, int threads, double seconds, int passes) {
#ifdef DSRT_SUITE_X86
  if (path == SimdPath::Avx2) return peak<float>(threads, seconds, passes, fma_avx2);
#endif
  return peak<float>(threads, seconds, passes, fma_portable);
}

std::vector<double> int8_peak_gops(SimdPath path, int threads, double seconds, int passes) {
#ifdef DSRT_SUITE_X86
  if (path == SimdPath::Avx2) return peak<int32_t>(threads, seconds, passes, int8_avx2);
#endif
  return peak<int32_t>(threads, seconds, passes, int8_portable);
}

}  // namespace dsrt::suite
