// Kernel cases: matmul GFLOP/s per weight type against the roofline, the decode attention op
// (MLA latent vs the MHA layout it replaces), the MoE expert FFN against the number of active
// experts, and the round-trip error of each quantized type.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "backends/backend.h"
#include "core/quant.h"
#include "suite/results.h"
#include "suite/stats.h"

namespace dsrt::suite {
namespace {

std::vector<float> gaussian(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

Tensor f32_tensor(int64_t rows, int64_t cols, uint64_t seed) {
  Tensor t = Tensor::zeros(DType::F32, {rows, cols});
  auto v = gaussian(size_t(rows * cols), seed);
  std::memcpy(t.data, v.data(), v.size() * 4);
  return t;
}

// A [m, k] weight of type dt from Gaussian values: F32/F16/BF16 by conversion, FP8 e4m3 with
// DeepSeek-V3's 128x128 block scales (scale = block amax / 448), GGUF types by quantize_row.
Result<Tensor> make_weight(DType dt, int64_t m, int64_t k, uint64_t seed) {
  const std::vector<float> src = gaussian(size_t(m * k), seed);
  if (dt != DType::F8_E4M3 && !quant_can_quantize(dt))
    return Status::Error(std::string(dtype_name(dt)) + ": no reference quantizer");
  DSRT_RETURN_IF_ERROR(dtype_row_bytes(dt, k).status());
  Tensor w = Tensor::zeros(dt, {m, k}, "bench." + std::string(dtype_name(dt)));
  if (dt == DType::F8_E4M3) {
    const int64_t B = 128, br = (m + B - 1) / B, bc = (k + B - 1) / B;
    auto scale = std::make_shared<Tensor>(Tensor::zeros(DType::F32, {br, bc}, "bench.weight_scale_inv"));
    for (int64_t i = 0; i < br; ++i)
      for (int64_t j = 0; j < bc; ++j) {
        float amax = 0;
        for (int64_t r = i * B; r < std::min(m, (i + 1) * B); ++r)
          for (int64_t c = j * B; c < std::min(k, (j + 1) * B); ++c) amax = std::max(amax, std::fabs(src[r * k + c]));
        const float s = amax > 0 ? amax / 448.0f : 1.0f;
        scale->f32()[i * bc + j] = s;
        for (int64_t r = i * B; r < std::min(m, (i + 1) * B); ++r)
          for (int64_t c = j * B; c < std::min(k, (j + 1) * B); ++c)
            w.ptr<uint8_t>()[r * k + c] = f32_to_e4m3(src[r * k + c] / s);
      }
    w.block_scale = scale;
    w.scale_block = int32_t(B);
    return w;
  }
  for (int64_t r = 0; r < m; ++r)
    quantize_row(dt, src.data() + r * k, const_cast<uint8_t*>(w.row_ptr(r)), k);
  return w;
}

Tensor copy_weight(const Tensor& w) {
  Tensor c = Tensor::zeros(w.dtype, w.shape, w.name);
  std::memcpy(c.data, w.data, w.nbytes());
  c.block_scale = w.block_scale;
  c.scale_block = w.scale_block;
  return c;
}

bool is_block_quant(DType t) { return dtype_info(t).block_size > 1 && t != DType::F8_E4M3; }

std::string lower(std::string s) {
  for (auto& ch : s) ch = char(std::tolower((unsigned char)ch));
  return s;
}

CaseResult matmul_case(CaseContext& c, DType dt) {
  const int64_t k = c.quick() ? 2048 : 4096, m = k;
  const std::vector<int64_t> ns = c.quick() ? std::vector<int64_t>{1, 64} : std::vector<int64_t>{1, 8, 64, 256};
  const int reps = c.quick() ? 3 : 5;
  const double min_s = c.quick() ? 0.05 : 0.25;
  CaseResult r;
  r.params = {{"dtype", dtype_name(dt)}, {"m", m}, {"k", k}, {"n", ns}, {"threads", c.threads},
              {"backend", "cpu"}, {"op", "y[n,m] = x[n,k] * W[m,k]^T"}};
  auto pool = std::make_shared<ThreadPool>(1);
  const bool opt = make_cpu_opt_backend(pool)->supports(Op::Matmul, dt);
  r.extra["kernel"] = opt ? (is_block_quant(dt) ? "cpu/opt (int8 activations, integer dots)" : "cpu/opt")
                          : "cpu/ref (fallback: cpu/opt does not run this type)";
  c.progress("building " + std::to_string(m) + "x" + std::to_string(k) + " " + std::string(dtype_name(dt)) + " weight");
  auto w0 = make_weight(dt, m, k, 7);
  if (!w0.ok()) return CaseResult::unavailable(w0.status().message(), r.params);
  // Enough copies that a pass streams several times the last-level cache, as a model's
  // weights do; otherwise small types would be timed from cache.
  const size_t target = c.quick() ? size_t(96) << 20 : size_t(256) << 20;
  const int copies = int(std::clamp<size_t>((target + w0.value().nbytes() - 1) / w0.value().nbytes(), 1, 64));
  std::vector<Tensor> ws;
  ws.push_back(std::move(w0).value());
  for (int i = 1; i < copies; ++i) ws.push_back(copy_weight(ws[0]));
  r.params["weight_copies"] = copies;
  r.params["weight_bytes"] = ws[0].nbytes();
  auto be = make_backend("cpu", c.threads);
  if (!be.ok()) return CaseResult::error(be.status().message(), r.params);
  r.repetitions = reps;
  const double wbytes = double(ws[0].nbytes());
  const double peak = is_block_quant(dt) && opt ? std::max(c.limits.int8_gops, c.limits.fp32_gflops)
                                                : c.limits.fp32_gflops;
  json roof = json::array();
  for (int64_t n : ns) {
    Tensor x = f32_tensor(n, k, 11), y = Tensor::zeros(DType::F32, {n, m});
    std::vector<double> gflops, gbs;
    for (int rep = 0; rep <= reps; ++rep) {  // rep 0 warms up
      int64_t calls = 0;
      const auto t0 = Clock::now();
      double s = 0;
      do {
        for (const Tensor& w : ws) be.value()->matmul(x, w, y), ++calls;
        s = seconds_since(t0);
      } while (s < min_s);
      keep(y.data);
      if (rep == 0) continue;
      gflops.push_back(2.0 * double(n) * double(m) * double(k) * double(calls) / s / 1e9);
      gbs.push_back(wbytes * double(calls) / s / 1e9);
    }
    const Summary g = summarize(gflops);
    c.progress("n=" + std::to_string(n) + ": " + std::to_string(g.mean) + " GFLOP/s");
    r.add("gflops", "GFLOP/s", gflops, {{"n", n}});
    r.add("weight_gbs", "GB/s", gbs, {{"n", n}});
    // Roofline: attainable = min(peak, arithmetic intensity x read bandwidth), the bytes being
    // the weight plus the F32 activations in and out.
    const double bytes = wbytes + 4.0 * double(n) * double(k + m);
    const double ai = 2.0 * double(n) * double(m) * double(k) / bytes;
    const double attainable = std::min(peak > 0 ? peak : 1e30, ai * c.limits.read_bw_gbs);
    roof.push_back({{"n", n}, {"flop_per_byte", ai}, {"attainable_gflops", attainable},
                    {"achieved_gflops", g.mean}, {"fraction", attainable > 0 ? g.mean / attainable : 0},
                    {"bound", ai * c.limits.read_bw_gbs < peak ? "memory" : "compute"}});
    Metric& f = r.add("roofline_fraction", "ratio", {attainable > 0 ? g.mean / attainable : 0}, {{"n", n}});
    f.kind = "computed";
  }
  r.extra["roofline"] = roof;
  r.extra["peak_gflops_used"] = peak;
  r.extra["read_bw_gbs_used"] = c.limits.read_bw_gbs;
  r.extra["bits_per_weight"] = 8.0 * wbytes / double(m * k);
  return r;
}

// Decode attention (one query token) over n_kv cached positions: MLA's absorbed form (all
// heads share one latent row of kv_lora_rank + rope values) against the MHA layout it
// replaces (a K and a V row per head). DeepSeek-V2-Lite's shape: 16 heads, latent 512 + 64,
// MHA head dims 192 / 128.
CaseResult attention_op_case(CaseContext& c) {
  const std::vector<int64_t> ctxs = c.quick() ? std::vector<int64_t>{512, 2048} : std::vector<int64_t>{512, 2048, 8192};
  const int64_t H = 16, lat = 512 + 64, r_ = 512, dk = 192, dv = 128;
  const int reps = c.quick() ? 3 : 5;
  CaseResult res;
  res.params = {{"n_head", H}, {"mla_row", lat}, {"kv_lora_rank", r_}, {"mha_d_k", dk}, {"mha_d_v", dv},
                {"n_kv", ctxs}, {"threads", c.threads}, {"n_tok", 1}};
  res.repetitions = reps;
  auto be = make_backend("cpu", c.threads);
  if (!be.ok()) return CaseResult::error(be.status().message(), res.params);
  for (int64_t n_kv : ctxs) {
    for (int form = 0; form < 2; ++form) {
      const bool mla = form == 0;
      const int64_t hk = mla ? 1 : H, d_k = mla ? lat : dk, d_v = mla ? r_ : dv;
      Tensor q = f32_tensor(H, d_k, 3), k = f32_tensor(n_kv * hk, d_k, 4);
      Tensor v = mla ? k : f32_tensor(n_kv * hk, d_v, 5), out = Tensor::zeros(DType::F32, {H, d_v});
      int32_t pos = int32_t(n_kv - 1);
      AttentionArgs a;
      a.q = q.f32();
      a.q_stride_tok = H * d_k;
      a.q_stride_head = d_k;
      a.k = k.f32();
      a.k_stride_tok = hk * d_k;
      a.k_stride_head = mla ? 0 : d_k;
      a.v = v.f32();
      a.v_stride_tok = mla ? d_k : hk * d_v;
      a.v_stride_head = mla ? 0 : d_v;
      a.out = out.f32();
      a.o_stride_tok = H * d_v;
      a.o_stride_head = d_v;
      a.n_tok = 1;
      a.n_kv = n_kv;
      a.n_head = H;
      a.n_head_kv = hk;
      a.d_k = d_k;
      a.d_v = d_v;
      a.q_pos = &pos;
      a.scale = 1.0f / std::sqrt(float(dk));
      const double cache_bytes = mla ? double(n_kv * lat * 4) : double(n_kv * H * (dk + dv) * 4);
      std::vector<double> us, gbs;
      for (int rep = 0; rep <= reps; ++rep) {
        int calls = 0;
        const auto t0 = Clock::now();
        double s = 0;
        do {
          be.value()->attention(a);
          ++calls;
          s = seconds_since(t0);
        } while (s < (c.quick() ? 0.03 : 0.1));
        keep(out.data);
        if (rep == 0) continue;
        us.push_back(s / calls * 1e6);
        gbs.push_back(cache_bytes * calls / s / 1e9);
      }
      const json labels = {{"form", mla ? "mla_latent" : "mha_equivalent"}, {"n_kv", n_kv}};
      res.add("latency", "us", us, labels, "lower");
      res.add("cache_gbs", "GB/s", gbs, labels);
      res.add("cache_bytes", "bytes", {cache_bytes}, labels, "lower").kind = "computed";
    }
    c.progress("n_kv=" + std::to_string(n_kv) + " done");
  }
  return res;
}

// The routed-expert FFN (moe_ffn) with top_k active experts per token out of n_expert:
// decode (1 token) and a small batch. BF16 experts, as DeepSeek's checkpoints ship them.
CaseResult moe_case(CaseContext& c) {
  const int64_t E = c.quick() ? 16 : 64, D = c.quick() ? 1024 : 2048, F = c.quick() ? 512 : 1408;
  const std::vector<int64_t> ks = c.quick() ? std::vector<int64_t>{1, 2, 4, 8} : std::vector<int64_t>{1, 2, 4, 6, 8};
  const std::vector<int64_t> ns = {1, 16};
  const int reps = c.quick() ? 3 : 5;
  CaseResult res;
  res.params = {{"n_routed_experts", E}, {"hidden_size", D}, {"moe_intermediate_size", F}, {"dtype", "BF16"},
                {"top_k", ks}, {"n_tok", ns}, {"threads", c.threads}};
  res.repetitions = reps;
  c.progress("building " + std::to_string(E) + " BF16 experts");
  std::vector<Tensor> g, u, d;
  std::mt19937_64 rng(5);
  auto bf16_rand = [&](int64_t rows, int64_t cols) {
    Tensor t = Tensor::zeros(DType::BF16, {rows, cols});
    std::uniform_real_distribution<float> ud(-0.05f, 0.05f);
    for (int64_t i = 0; i < rows * cols; ++i) t.ptr<uint16_t>()[i] = f32_to_bf16(ud(rng));
    return t;
  };
  for (int64_t e = 0; e < E; ++e) {
    g.push_back(bf16_rand(F, D));
    u.push_back(bf16_rand(F, D));
    d.push_back(bf16_rand(D, F));
  }
  std::vector<ExpertWeights> experts(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) experts[size_t(e)] = {&g[size_t(e)], &u[size_t(e)], &d[size_t(e)]};
  const double expert_bytes = double(g[0].nbytes() + u[0].nbytes() + d[0].nbytes());
  auto be = make_backend("cpu", c.threads);
  if (!be.ok()) return CaseResult::error(be.status().message(), res.params);
  for (int64_t n : ns)
    for (int64_t k : ks) {
      Tensor x = f32_tensor(n, D, 9), y = Tensor::zeros(DType::F32, {n, D});
      Tensor ids = Tensor::zeros(DType::I32, {n, k}), wts = Tensor::zeros(DType::F32, {n, k});
      std::vector<double> tps, gbs;
      int64_t step = 0;
      for (int rep = 0; rep <= reps; ++rep) {
        int calls = 0;
        double touched = 0;
        const auto t0 = Clock::now();
        double s = 0;
        do {
          // Fresh distinct experts per token each call, so successive calls do not reuse the
          // same (cached) experts, as consecutive decode steps mostly do not.
          std::vector<bool> used(size_t(E), false);
          for (int64_t i = 0; i < n; ++i) {
            std::vector<int32_t> perm(static_cast<size_t>(E));
            for (int64_t e = 0; e < E; ++e) perm[size_t(e)] = int32_t(e);
            std::shuffle(perm.begin(), perm.end(), rng);
            for (int64_t j = 0; j < k; ++j) {
              ids.ptr<int32_t>()[i * k + j] = perm[size_t(j)];
              wts.f32()[i * k + j] = 1.0f / float(k);
              used[size_t(perm[size_t(j)])] = true;
            }
          }
          touched += double(std::count(used.begin(), used.end(), true)) * expert_bytes;
          be.value()->moe_ffn(x, ids, wts, experts, y);
          ++calls;
          ++step;
          s = seconds_since(t0);
        } while (s < (c.quick() ? 0.04 : 0.15));
        keep(y.data);
        if (rep == 0) continue;
        tps.push_back(double(n) * calls / s);
        gbs.push_back(touched / s / 1e9);
      }
      res.add("tokens_per_s", "tok/s", tps, {{"n_tok", n}, {"top_k", k}});
      res.add("expert_weight_gbs", "GB/s", gbs, {{"n_tok", n}, {"top_k", k}});
    }
  res.extra["expert_bytes"] = expert_bytes;
  res.extra["note"] = "expert_weight_gbs counts each distinct expert a call touches once";
  return res;
}

// Relative RMS error ||dequant(quant(x)) - x|| / ||x|| on Gaussian values, per type, and the
// bits each weight costs.
CaseResult quant_error_case(CaseContext& c) {
  const int64_t n = c.quick() ? (int64_t(1) << 18) : (int64_t(1) << 21);
  const std::vector<DType> types = {DType::F16,  DType::BF16, DType::F8_E4M3, DType::Q8_0, DType::Q6_K,
                                    DType::Q5_K, DType::Q5_0, DType::Q4_K,    DType::Q4_0, DType::Q3_K,
                                    DType::Q2_K};
  CaseResult res;
  res.params = {{"n_values", n}, {"distribution", "N(0,1), fixed seed"}, {"rows_of", 4096}};
  res.repetitions = 1;
  const std::vector<float> x = gaussian(size_t(n), 21);
  double xx = 0;
  for (float v : x) xx += double(v) * v;
  for (DType t : types) {
    const int64_t cols = 4096, rows = n / cols;
    auto w = make_weight(t, rows, cols, 21);  // same seed and order: the same values as x
    if (!w.ok()) continue;
    std::vector<float> back(static_cast<size_t>(cols));
    double ee = 0;
    for (int64_t r = 0; r < rows; ++r) {
      weight_row_to_f32(w.value(), r, back.data());
      for (int64_t i = 0; i < cols; ++i) {
        const double e = double(back[size_t(i)]) - x[size_t(r * cols + i)];
        ee += e * e;
      }
    }
    const json lab = {{"dtype", dtype_name(t)}};
    res.add("rel_rms_error", "ratio", {std::sqrt(ee / xx)}, lab, "lower");
    double bits = 8.0 * double(w.value().nbytes()) / double(rows * cols);
    if (t == DType::F8_E4M3) bits += 32.0 / (128.0 * 128.0);  // the F32 block scale
    res.add("bits_per_weight", "bits", {bits}, lab, "lower").kind = "computed";
  }
  c.progress(std::to_string(types.size()) + " types");
  return res;
}

}  // namespace

void add_kernel_cases(std::vector<CaseDef>& out) {
  const std::vector<DType> types = {DType::F32,  DType::F16,  DType::BF16, DType::F8_E4M3, DType::Q8_0,
                                    DType::Q6_K, DType::Q5_K, DType::Q4_K, DType::Q4_0,    DType::Q3_K,
                                    DType::Q2_K};
  for (DType t : types)
    out.push_back({"matmul." + lower(std::string(dtype_name(t))), 1, "kernels",
                   "Matmul " + std::string(dtype_name(t)) + " vs roofline", false,
                   [t](CaseContext& c) { return matmul_case(c, t); }});
  out.push_back({"attn.op_decode", 1, "attention", "Decode attention op: MLA latent vs MHA layout", false,
                 attention_op_case});
  out.push_back({"moe.layer_vs_active_experts", 1, "moe", "MoE expert FFN vs active experts", false, moe_case});
  out.push_back({"quant.roundtrip_error", 1, "accuracy", "Quantization round-trip error per type", false,
                 quant_error_case});
}

}  // namespace dsrt::suite
