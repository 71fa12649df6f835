// Kernel benchmarks: each optimized CPU op next to its cpu/ref twin, reporting bytes/s of
// weights streamed (the decode-relevant figure) and FLOP/s. Run: build/bin/bench_ops
#include <benchmark/benchmark.h>

#include <random>

#include "backends/backend.h"

namespace dsrt {
namespace {

Tensor random_tensor(DType dt, int64_t rows, int64_t cols) {
  std::mt19937_64 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Tensor t = Tensor::zeros(dt, {rows, cols});
  for (int64_t i = 0; i < rows * cols; ++i) {
    const float v = nd(rng);
    if (dt == DType::F32) t.f32()[i] = v;
    else if (dt == DType::BF16) t.ptr<uint16_t>()[i] = f32_to_bf16(v);
    else t.ptr<uint16_t>()[i] = f32_to_f16(v);
  }
  return t;
}

// args: backend (0 = cpu, 1 = cpu-ref), weight dtype, n tokens, threads
void BM_Matmul(benchmark::State& st) {
  const bool ref = st.range(0) == 1;
  const DType dt = DType(st.range(1));
  const int64_t n = st.range(2), k = 2048, m = 2048;
  auto be = make_backend(ref ? "cpu-ref" : "cpu", int(st.range(3))).value();
  Tensor x = random_tensor(DType::F32, n, k), w = random_tensor(dt, m, k);
  Tensor y = Tensor::zeros(DType::F32, {n, m});
  for (auto _ : st) {
    be->matmul(x, w, y);
    benchmark::DoNotOptimize(y.data);
  }
  st.counters["weight_GB/s"] = benchmark::Counter(double(w.nbytes()) * st.iterations() / 1e9,
                                                  benchmark::Counter::kIsRate);
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * k * m * st.iterations() / 1e9,
                                              benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Matmul)
    ->ArgNames({"ref", "dtype", "n", "threads"})
    ->Args({1, int(DType::F32), 1, 1})
    ->Args({0, int(DType::F32), 1, 1})
    ->Args({0, int(DType::F32), 1, 2})
    ->Args({0, int(DType::BF16), 1, 2})
    ->Args({0, int(DType::F16), 1, 2})
    ->Args({0, int(DType::F32), 64, 2})
    ->Args({0, int(DType::BF16), 64, 2})
    ->Unit(benchmark::kMillisecond);

// MLA absorbed decode attention: 1 query token, 16 heads over an n_kv-long latent cache
// of 512 + 64 values per token (DeepSeek-V2-Lite shape).
void BM_AttentionMla(benchmark::State& st) {
  const bool ref = st.range(0) == 1;
  const int64_t n_kv = st.range(1), H = 16, row = 576, r = 512;
  auto be = make_backend(ref ? "cpu-ref" : "cpu", 2).value();
  Tensor q = random_tensor(DType::F32, H, row), cache = random_tensor(DType::F32, n_kv, row);
  Tensor out = Tensor::zeros(DType::F32, {H, r});
  int32_t pos = int32_t(n_kv - 1);
  AttentionArgs a;
  a.q = q.f32();
  a.q_stride_tok = H * row;
  a.q_stride_head = row;
  a.k = a.v = cache.f32();
  a.k_stride_tok = a.v_stride_tok = row;
  a.out = out.f32();
  a.o_stride_tok = H * r;
  a.o_stride_head = r;
  a.n_tok = 1;
  a.n_kv = n_kv;
  a.n_head = H;
  a.n_head_kv = 1;
  a.d_k = row;
  a.d_v = r;
  a.q_pos = &pos;
  a.scale = 0.07f;
  for (auto _ : st) {
    be->attention(a);
    benchmark::DoNotOptimize(out.data);
  }
  st.counters["cache_GB/s"] = benchmark::Counter(double(cache.nbytes()) * st.iterations() / 1e9,
                                                 benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AttentionMla)->ArgNames({"ref", "n_kv"})->Args({1, 1024})->Args({0, 1024})->Args({0, 4096})->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace dsrt

BENCHMARK_MAIN();
