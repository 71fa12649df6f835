// Kernel benchmarks: each optimized CPU op next to its cpu/ref twin, reporting bytes/s of
// weights streamed (the decode-relevant figure) and FLOP/s. Run: build/bin/bench_ops
#include <benchmark/benchmark.h>

#include <algorithm>
#include <map>
#include <random>
#include <tuple>

#include "backends/backend.h"
#include "suite/microbench.h"
#include "core/quant.h"

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
    ->Args({0, int(DType::BF16), 16, 2})  // batched decode (16 streams)
    ->Args({0, int(DType::BF16), 128, 2})
    ->Args({0, int(DType::F32), 512, 2})  // prefill: the GEMM micro-kernel (compare FP32 peak)
    ->Args({0, int(DType::F16), 512, 2})
    ->UseRealTime()  // the pool's threads work while the caller waits: CPU time undercounts
    ->Unit(benchmark::kMillisecond);

// ---- Quantized matmuls ----
// Paths: 0 = cpu (Q8 activations + integer dots, AVX2 where built), 1 = cpu-generic (the
// portable C++ kernels ARM runs), 2 = cpu-decode (decode each weight row to float, float dot:
// the previous cpu path and the baseline), 3 = cpu-ref.
const char* kPathNames[] = {"cpu", "cpu-generic", "cpu-decode", "cpu-ref"};

// Shapes [m, k] of W: a 2048x2048 projection and DeepSeek-V2-Lite's kv_a-like 576x1536.
constexpr int64_t kShapes[][2] = {{2048, 2048}, {576, 1536}};

// GEMV (n = 1) streams the weights from DRAM, as decode does: the benchmark rotates over
// copies of the weight whose total is >= 96 MiB (3x this machine's 32 MiB L3), so no call
// finds its weight in cache. GEMM (n > 1) is compute-bound and uses one copy.
// The quantizers (K types' scale search especially) are slow; each weight is made once.
// Fills t (of its own dtype) with N(0, 1) values quantized row by row.
void fill_quantized(Tensor& t, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> src(static_cast<size_t>(t.cols()));
  for (int64_t r = 0; r < t.rows(); ++r) {
    for (float& v : src) v = nd(rng);
    quantize_row(t.dtype, src.data(), t.ptr<uint8_t>() + r * t.row_bytes(), t.cols());
  }
}

const Tensor& quantized_weight(DType dt, int64_t m, int64_t k) {
  static std::map<std::tuple<int, int64_t, int64_t>, Tensor> cache;
  Tensor& w = cache[{int(dt), m, k}];
  if (w.empty()) {
    w = Tensor::zeros(dt, {m, k}, "w");
    fill_quantized(w, 7);
  }
  return w;
}

void BM_QuantMatmul(benchmark::State& st) {
  const int path = int(st.range(0));
  const DType dt = DType(st.range(1));
  const int64_t n = st.range(2), m = kShapes[st.range(3)][0], k = kShapes[st.range(3)][1];
  auto be = make_backend(kPathNames[path], int(st.range(4))).value();
  const Tensor& w0 = quantized_weight(dt, m, k);
  const size_t copies = n == 1 ? std::max<size_t>(1, (size_t(96) << 20) / w0.nbytes() + 1) : 1;
  std::vector<Tensor> ws(copies, w0);
  for (size_t c = 1; c < copies; ++c) {
    ws[c] = Tensor::zeros(dt, {m, k}, "w");
    std::copy_n(w0.ptr<uint8_t>(), w0.nbytes(), ws[c].ptr<uint8_t>());
  }
  Tensor x = random_tensor(DType::F32, n, k);
  Tensor y = Tensor::zeros(DType::F32, {n, m});
  size_t c = 0;
  for (auto _ : st) {
    be->matmul(x, ws[c], y);
    benchmark::DoNotOptimize(y.data);
    c = (c + 1) % copies;
  }
  st.SetLabel(std::string(kPathNames[path]) + " " + std::string(dtype_name(dt)) + " n=" +
              std::to_string(n) + " " + std::to_string(m) + "x" + std::to_string(k));
  st.counters["weight_GB/s"] = benchmark::Counter(double(w0.nbytes()) * st.iterations() / 1e9,
                                                  benchmark::Counter::kIsRate);
  st.counters["GOP/s"] = benchmark::Counter(2.0 * n * k * m * st.iterations() / 1e9,
                                            benchmark::Counter::kIsRate);
}
void quant_matmul_args(benchmark::internal::Benchmark* b) {
  const DType types[] = {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                         DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q2_K, DType::Q3_K};
  for (DType dt : types) {
    for (int shape = 0; shape < 2; ++shape)
      for (int path : {0, 1, 2}) b->Args({path, int(dt), 1, shape, 2});
    for (int64_t n : {16, 64, 512})
      for (int path : {0, 2}) b->Args({path, int(dt), n, 0, 2});
  }
  b->Args({3, int(DType::Q8_0), 1, 0, 2});
}
BENCHMARK(BM_QuantMatmul)
    ->ArgNames({"path", "dtype", "n", "shape", "threads"})
    ->Apply(quant_matmul_args)
    ->MinTime(0.3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// A decode step's GEMVs at model shape, without the rest of the model: SmolLM2-135M (hidden 576,
// 30 layers, q/k/v 576/192/192, FFN 1536, vocab 49152 head) as the dense model issues them (q,k,v
// and gate,up as one matmul_batch each), the weights carved from two huge-page arenas as
// the loader's copy of a file keeps them (143 MiB at Q8_0: no reuse in the 32 MiB L3). Its
// weight_GB/s against BM_ReadBandwidth is the GEMV's share of the machine's read rate with the
// sync, matrix starts and row tails of a real step included; `dsrt bench` adds attention,
// norms and the activation work on top. args: dtype, threads.
void BM_DecodeGemvChain(benchmark::State& st) {
  const DType dt = DType(st.range(0));
  constexpr int64_t D = 576, KV = 192, F = 1536, L = 30, V = 49152;
  const int64_t rows576 = L * (D + 2 * KV + D + 2 * F) + V;
  Tensor a576 = Tensor::zeros_huge(dt, {rows576, D}), a1536 = Tensor::zeros_huge(dt, {L * D, F});
  fill_quantized(a576, 3);
  fill_quantized(a1536, 3);
  struct Layer {
    Tensor q, k, v, o, gate, up, down;
  };
  std::vector<Layer> layers;
  int64_t r = 0;
  auto take = [&](int64_t n) {
    Tensor t = a576.slice_rows(r, n);
    r += n;
    return t;
  };
  for (int64_t l = 0; l < L; ++l) {
    Layer y;
    y.q = take(D), y.k = take(KV), y.v = take(KV), y.o = take(D), y.gate = take(F), y.up = take(F);
    y.down = a1536.slice_rows(l * D, D);
    layers.push_back(y);
  }
  const Tensor head = take(V);
  auto be = make_backend("cpu", int(st.range(1))).value();
  Tensor x = random_tensor(DType::F32, 1, D), xf = random_tensor(DType::F32, 1, F);
  Tensor q = Tensor::zeros(DType::F32, {1, D}), k = Tensor::zeros(DType::F32, {1, KV}),
         v = Tensor::zeros(DType::F32, {1, KV}), t = Tensor::zeros(DType::F32, {1, D}),
         g = Tensor::zeros(DType::F32, {1, F}), u = Tensor::zeros(DType::F32, {1, F}),
         logits = Tensor::zeros(DType::F32, {1, V});
  for (auto _ : st) {
    for (const Layer& y : layers) {
      be->matmul_batch({{&x, &y.q, &q}, {&x, &y.k, &k}, {&x, &y.v, &v}});
      be->matmul(x, y.o, t);
      be->matmul_batch({{&x, &y.gate, &g}, {&x, &y.up, &u}});
      be->matmul(xf, y.down, t);
    }
    be->matmul(x, head, logits);
    benchmark::DoNotOptimize(logits.data);
  }
  st.SetLabel(std::string(dtype_name(dt)) + " smollm2-135m decode GEMVs");
  st.counters["weight_GB/s"] = benchmark::Counter(double(a576.nbytes() + a1536.nbytes()) * st.iterations() / 1e9,
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeGemvChain)
    ->ArgNames({"dtype", "threads"})
    ->Args({int(DType::Q8_0), 2})
    ->Args({int(DType::F16), 2})
    ->Args({int(DType::Q4_0), 2})
    ->MinTime(1.0)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Read bandwidth with the same thread count, for the fraction-of-limit figures: the probe
// `dsrt bench` and the suite use (suite/microbench.h), best pass reported.
void BM_ReadBandwidth(benchmark::State& st) {
  const int threads = int(st.range(0));
  double best = 0;
  for (auto _ : st) {
    for (double g : suite::read_bandwidth_gbs(size_t(256) << 20, threads, 1)) best = std::max(best, g);
  }
  st.counters["GB/s"] = best;
}
BENCHMARK(BM_ReadBandwidth)->ArgNames({"threads"})->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// FP32 FMA peak with the same thread count (suite/microbench.h), for the GEMM's share of it.
void BM_Fp32Peak(benchmark::State& st) {
  double best = 0;
  for (auto _ : st)
    for (double g : suite::fp32_peak_gflops(suite::SimdPath::Avx2, int(st.range(0)), 0.2, 1))
      best = std::max(best, g);
  st.counters["GFLOP/s"] = best;
}
BENCHMARK(BM_Fp32Peak)->ArgNames({"threads"})->Arg(2)->Iterations(3)->UseRealTime()->Unit(benchmark::kMillisecond);

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
BENCHMARK(BM_AttentionMla)->ArgNames({"ref", "n_kv"})->Args({1, 1024})->Args({0, 256})->Args({0, 1024})->Args({0, 2048})->Args({0, 4096})->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace dsrt

BENCHMARK_MAIN();
