#include "backends/op_test.h"

#include <cmath>
#include <cstring>
#include <deque>
#include <functional>
#include <random>

#include "core/quant.h"

namespace dsrt {
namespace {

constexpr double kU = 1.0 / 16777216.0;  // float32 unit roundoff 2^-24
constexpr float kGuard = 12345.678f;
constexpr int64_t kGuardN = 16;

// A heap tensor with kGuardN sentinel floats on both sides of its data.
struct Guarded {
  std::vector<float> buf;
  Tensor t;
  Guarded(std::vector<int64_t> shape) {
    t.dtype = DType::F32;
    t.shape = std::move(shape);
    buf.assign(size_t(t.numel() + 2 * kGuardN), kGuard);
    t.data = buf.data() + kGuardN;
    std::fill(buf.begin() + kGuardN, buf.end() - kGuardN, 0.0f);
  }
  bool guards_intact() const {
    for (int64_t i = 0; i < kGuardN; ++i)
      if (buf[i] != kGuard || buf[buf.size() - 1 - i] != kGuard) return false;
    return true;
  }
};

Tensor random_f32(std::mt19937_64& rng, std::vector<int64_t> shape, float scale = 1.0f) {
  Tensor t = Tensor::zeros(DType::F32, std::move(shape));
  std::normal_distribution<float> nd(0.0f, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = nd(rng);
  return t;
}

// A random weight of the given storage type [rows, cols] (F8 gets 128x128 block scales).
Tensor random_weight(std::mt19937_64& rng, DType dt, int64_t rows, int64_t cols) {
  Tensor src = random_f32(rng, {rows, cols}, 0.5f);
  if (dt == DType::F32) return src;
  Tensor w = Tensor::zeros(dt, {rows, cols}, "w");
  if (dt == DType::F16 || dt == DType::BF16) {
    uint16_t* p = w.ptr<uint16_t>();
    for (int64_t i = 0; i < rows * cols; ++i)
      p[i] = dt == DType::F16 ? f32_to_f16(src.f32()[i]) : f32_to_bf16(src.f32()[i]);
  } else if (dt == DType::F8_E4M3) {
    const int64_t b = 128, br = (rows + b - 1) / b, bc = (cols + b - 1) / b;
    auto s = std::make_shared<Tensor>(Tensor::zeros(DType::F32, {br, bc}, "w_scale_inv"));
    for (int64_t i = 0; i < br * bc; ++i) s->f32()[i] = 0.5f / 448.0f * float(1 + i % 3);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        w.ptr<uint8_t>()[r * cols + c] =
            f32_to_e4m3(src.f32()[r * cols + c] / s->f32()[(r / b) * bc + c / b]);
    w.block_scale = s;
    w.scale_block = int32_t(b);
  } else {
    // GGUF block types: each row through the reference quantizer.
    for (int64_t r = 0; r < rows; ++r)
      quantize_row(dt, src.f32() + r * cols, w.ptr<uint8_t>() + r * w.row_bytes(), cols);
  }
  return w;
}

// The block-quantized weight types the matmul sweep covers, and the activation block each one
// may be paired with. The contract (as ggml's vec_dot_type): a backend may quantize the
// activations of a matmul with such weights to 8 bits in blocks of 32 (legacy types) or 256
// (K types) with step amax / 127; the bound in test_matmul allows exactly that error.
constexpr DType kQuantTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                                 DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q2_K, DType::Q3_K};
bool is_k_type(DType t) {
  return dtype_info(t).block_size == 256;
}
int64_t act_block_of(DType t) {
  return is_k_type(t) ? 256 : 32;
}

struct Checker {
  std::vector<OpTestResult>* out;
  void add(Op op, std::string desc, double err, double bound, std::string note = {}) {
    OpTestResult r;
    r.op = op;
    r.desc = std::move(desc);
    r.error = err;
    r.bound = bound;
    r.note = std::move(note);
    r.passed = r.note.empty() && std::isfinite(err) && err <= bound;
    if (!std::isfinite(err) && r.note.empty()) r.note = "non-finite error";
    out->push_back(std::move(r));
  }
};

bool all_finite(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(t.f32()[i])) return false;
  return true;
}

// Normalised mean squared error sum((a-b)^2) / sum(b^2), as test-backend-ops uses.
double nmse(const Tensor& a, const Tensor& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = double(a.f32()[i]) - b.f32()[i];
    num += d * d;
    den += double(b.f32()[i]) * b.f32()[i];
  }
  return den == 0 ? num : num / den;
}

std::string check_outputs(const Guarded& cand, const Tensor& ref) {
  if (!cand.guards_intact()) return "output guard region overwritten";
  if (!all_finite(ref)) return "reference produced non-finite values";
  if (!all_finite(cand.t)) return "candidate produced NaN/inf";
  return {};
}

// NMSE bound for float32 kernels checked against the double-accumulating reference: each
// output carries a relative error of about sqrt(k) * u for a length-k reduction in random
// order (k <= 4097 here), i.e. NMSE ~ k u^2 < 2e-11; 1e-9 leaves two orders of margin while
// any indexing or semantic mistake gives NMSE ~ 1e-2 or more.
constexpr double kNmseF32 = 1e-9;

std::vector<int64_t> sizes(bool quick) {
  return quick ? std::vector<int64_t>{1, 3, 65} : std::vector<int64_t>{1, 3, 63, 65, 4097};
}

// Worst-case error bound for one output y[i, j] of matmul / matmul_xw, divided into the
// measured error: a result <= 1 passes.
//  - Float weights (and matmul_xw, which decodes rows exactly): a float32 length-k dot
//    product (Higham, recursive summation) has |err| <= gamma_k * sum_q |x_q w_q|,
//    gamma_k = k u / (1 - k u); k + 2 covers the final roundings of both sides.
//  - Matmul with block-quantized weights: the candidate may round the activations to 8-bit
//    blocks (see kQuantTypes), each element within half a step, delta_q = d_b / 2 with
//    d_b = amax(block of x holding q) / 127 (+256 u of slack for the rounding of x / d and of
//    d itself), so |err| <= sum_q |w_q| delta_q exactly in the integer part; the float work on
//    top (scales multiplied per block, sums of k / 32 block terms) is bounded by gamma_{k+4}
//    * sum_q (|w_q| + 4 M_q)(|x_q| + delta_q), M_q the largest |w| in q's weight block: the
//    kernel forms each weight as scale * quant + offset, neither term beyond ~2 M_q, so each
//    rounding is relative to <= 4 M_q rather than to |w_q|.
double matmul_error_ratio(const Tensor& x, const Tensor& w, const Tensor& yc, const Tensor& yr,
                          bool xw) {
  const int64_t n = x.rows(), k = x.cols(), m = yr.cols();
  const bool quant_act = !xw && dtype_info(w.dtype).block_size > 1;
  const double g = double(k + 4) * kU / (1 - double(k + 4) * kU);
  std::vector<double> wabs(static_cast<size_t>(k)), wmag(wabs), delta(wabs);
  // The weight decoded once (weight_at has no reader for block types).
  std::vector<float> wf(size_t(w.rows() * w.cols()));
  for (int64_t r = 0; r < w.rows(); ++r) weight_row_to_f32(w, r, wf.data() + r * w.cols());
  double worst = 0;
  for (int64_t j = 0; j < m; ++j) {
    for (int64_t q = 0; q < k; ++q) wabs[q] = std::fabs(xw ? wf[q * m + j] : wf[j * k + q]);
    if (quant_act) {
      const int64_t wb = dtype_info(w.dtype).block_size;
      for (int64_t b = 0; b < k; b += wb) {
        double mx = 0;
        for (int64_t q = b; q < b + wb; ++q) mx = std::max(mx, wabs[q]);
        for (int64_t q = b; q < b + wb; ++q) wmag[q] = wabs[q] + 4 * mx;
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      const float* xi = x.f32() + i * k;
      double bound = 0;
      if (quant_act) {
        const int64_t ab = act_block_of(w.dtype);
        for (int64_t b = 0; b < k; b += ab) {
          float amax = 0;
          for (int64_t q = b; q < b + ab; ++q) amax = std::max(amax, std::fabs(xi[q]));
          for (int64_t q = b; q < b + ab; ++q) delta[q] = double(amax / 127) * (0.5 + 256 * kU);
        }
        double a = 0, f = 0;
        for (int64_t q = 0; q < k; ++q) {
          a += wabs[q] * delta[q];
          f += wmag[q] * (std::fabs(xi[q]) + delta[q]);
        }
        bound = a + g * f;
      } else {
        for (int64_t q = 0; q < k; ++q) bound += std::fabs(double(xi[q])) * wabs[q];
        bound *= g;
      }
      const double err = std::fabs(double(yc.f32()[i * m + j]) - yr.f32()[i * m + j]);
      worst = std::max(worst, err / (bound + 1e-30));
    }
  }
  return worst;
}

void test_matmul(Backend& c, Backend& r, const OpTestOptions& o, Checker& ck, bool xw);

// matmul_batch: jobs of mixed weight types and shapes (MLA-like per-head matrices), single-
// row (the fused path) and two-row (one matmul per job); each output against cpu/ref's
// matmul with the same bound as test_matmul.
void test_matmul_batch(Backend& c, Backend& r, const OpTestOptions& o, Checker& ck) {
  std::mt19937_64 rng(o.seed + 77);
  const DType types[] = {DType::Q5_0, DType::Q4_K, DType::Q8_0, DType::BF16, DType::F32, DType::Q6_K};
  for (int64_t n : {int64_t(1), int64_t(2)}) {
    std::vector<Tensor> xs, ws, ys;
    std::vector<Guarded> yc;
    yc.reserve(6);  // Guarded's tensor points into its own buffer: no reallocation
    for (int j = 0; j < 6; ++j) {
      const DType dt = types[j];
      const int64_t k = j % 2 ? 512 : 256, m = j % 3 ? 67 : 128;
      if (!c.supports(Op::Matmul, dt)) continue;
      xs.push_back(random_f32(rng, {n, k}));
      ws.push_back(random_weight(rng, dt, m, k));
      yc.emplace_back(std::vector<int64_t>{n, m});
    }
    std::vector<MatmulJob> jobs;
    for (size_t j = 0; j < xs.size(); ++j) jobs.push_back({&xs[j], &ws[j], &yc[j].t});
    c.matmul_batch(jobs);
    for (size_t j = 0; j < xs.size(); ++j) {
      Tensor yr = Tensor::zeros(DType::F32, {n, ws[j].rows()});
      r.matmul(xs[j], ws[j], yr);
      const std::string note = check_outputs(yc[j], yr);
      const double worst = note.empty() ? matmul_error_ratio(xs[j], ws[j], yc[j].t, yr, false) : 0;
      ck.add(Op::Matmul,
             "matmul_batch job " + std::to_string(j) + " w=" + std::string(dtype_name(ws[j].dtype)) +
                 " n=" + std::to_string(n),
             worst, 1.0, note);
    }
  }
}

void test_matmul(Backend& c, Backend& r, const OpTestOptions& o, Checker& ck, bool xw) {
  std::mt19937_64 rng(o.seed);
  const Op op = xw ? Op::MatmulXW : Op::Matmul;
  std::vector<DType> types = {DType::F32, DType::F16, DType::BF16, DType::F8_E4M3};
  types.insert(types.end(), std::begin(kQuantTypes), std::end(kQuantTypes));
  for (DType dt : types) {
    if (!c.supports(op, dt)) continue;
    const int64_t bs = dtype_info(dt).block_size;
    // The blocked dimension (k for matmul, m for matmul_xw) takes multiples of the block:
    // one block, three (32*3, 256*3), and a long odd count; the other one odd sizes.
    std::vector<int64_t> blocked = sizes(o.quick), other = {1, 3, 67};
    if (bs > 1) {
      blocked = o.quick ? std::vector<int64_t>{bs, 3 * bs}
                        : std::vector<int64_t>{bs, 3 * bs, (bs == 32 ? 129 : 17) * bs};
    }
    for (int64_t kb : blocked)
      // n = 1 takes the GEMV paths, 5 and 13 the small-batch ones (integer dots with unpacked
      // tiles; dot-style float tiles), 70 the packed GEMM for every type (6-token tiles + 4).
      for (int64_t n : {int64_t(1), int64_t(5), int64_t(13), int64_t(70)})
        for (int64_t mo : other) {
          const int64_t k = xw && bs > 1 ? mo : kb, m = xw && bs > 1 ? kb : mo;
          if (xw && k * m > 4097 * 3 && m > 3 && bs == 1) continue;  // keep the sweep fast
          Tensor x = random_f32(rng, {n, k});
          Tensor w = xw ? random_weight(rng, dt, k, m) : random_weight(rng, dt, m, k);
          Guarded yc({n, m});
          Tensor yr = Tensor::zeros(DType::F32, {n, m});
          if (xw) {
            c.matmul_xw(x, w, yc.t);
            r.matmul_xw(x, w, yr);
          } else {
            c.matmul(x, w, yc.t);
            r.matmul(x, w, yr);
          }
          const std::string note = check_outputs(yc, yr);
          const double worst = note.empty() ? matmul_error_ratio(x, w, yc.t, yr, xw) : 0;
          ck.add(op,
                 std::string(op_name(op)) + " w=" + std::string(dtype_name(dt)) +
                     " n=" + std::to_string(n) + " k=" + std::to_string(k) +
                     " m=" + std::to_string(m),
                 worst, 1.0, note);
        }
  }
}

void test_elementwise(Backend& c, Backend& r, const OpTestOptions& o, Checker& ck, Op op) {
  std::mt19937_64 rng(o.seed + int(op));
  // n = 20 with the largest d crosses cpu/opt's threshold for running on the pool (64 Ki floats).
  for (int64_t d : sizes(o.quick))
    for (int64_t n : {int64_t(1), int64_t(7), int64_t(20)}) {
      Tensor x = random_f32(rng, {n, d}), u = random_f32(rng, {n, d});
      Guarded yc({n, d});
      Tensor yr = Tensor::zeros(DType::F32, {n, d});
      if (op == Op::RmsNorm) {
        Tensor w = random_f32(rng, {d});
        c.rms_norm(x, w, 1e-6f, yc.t);
        r.rms_norm(x, w, 1e-6f, yr);
      } else if (op == Op::SiluMul) {
        c.silu_mul(x, u, yc.t);
        r.silu_mul(x, u, yr);
      } else if (op == Op::Add) {
        std::memcpy(yc.t.data, u.data, u.nbytes());
        std::memcpy(yr.data, u.data, u.nbytes());
        c.add(x, yc.t);
        r.add(x, yr);
      } else if (op == Op::Softmax) {
        std::memcpy(yc.t.data, x.data, x.nbytes());
        std::memcpy(yr.data, x.data, x.nbytes());
        c.softmax(yc.t);
        r.softmax(yr);
      } else if (op == Op::Embedding) {
        for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
          if (!c.supports(op, dt)) continue;
          Tensor table = random_weight(rng, dt, 50, d);
          std::vector<int32_t> ids(n);
          for (auto& id : ids) id = int32_t(rng() % 50);
          Guarded ec({n, d});
          Tensor er = Tensor::zeros(DType::F32, {n, d});
          c.embedding(table, ids.data(), n, ec.t);
          r.embedding(table, ids.data(), n, er);
          // Embedding decodes stored values exactly: any difference is a bug.
          ck.add(op,
                 "embedding w=" + std::string(dtype_name(dt)) + " n=" + std::to_string(n) +
                     " d=" + std::to_string(d),
                 nmse(ec.t, er), 0.0, check_outputs(ec, er));
        }
        continue;
      }
      ck.add(op, std::string(op_name(op)) + " n=" + std::to_string(n) + " d=" + std::to_string(d),
             nmse(yc.t, yr), kNmseF32, check_outputs(yc, yr));
    }
}

void test_rope(Backend& c, Backend& r, const OpTestOptions& o, Checker& ck) {
  std::mt19937_64 rng(o.seed + 77);
  for (bool inter : {false, true})
    for (int64_t rd : {int64_t(2), int64_t(16), int64_t(64)}) {
      const int64_t n_tok = 5, n_head = 3, head = rd + 8;  // rope part at offset 8 in a head
      Tensor x = random_f32(rng, {n_tok, n_head, head});
      Tensor xc = Tensor::zeros(DType::F32, {n_tok, n_head, head});
      std::memcpy(xc.data, x.data, x.nbytes());
      std::vector<int32_t> pos = {0, 1, 7, 300, 4096};
      std::vector<float> inv(rd / 2);
      for (int64_t i = 0; i < rd / 2; ++i) inv[i] = std::pow(10000.0f, -2.0f * i / rd);
      RopeArgs a;
      a.n_tok = n_tok;
      a.n_head = n_head;
      a.stride_tok = n_head * head;
      a.stride_head = head;
      a.rope_dim = rd;
      a.pos = pos.data();
      a.inv_freq = inv.data();
      a.attn_factor = 1.1f;
      a.interleaved = inter;
      a.x = xc.f32() + 8;
      c.rope(a);
      a.x = x.f32() + 8;
      r.rope(a);
      ck.add(Op::Rope,
             std::string("rope ") + (inter ? "interleaved" : "neox") + " dim=" + std::to_string(rd),
             nmse(xc, x), kNmseF32, all_finite(xc) ? "" : "candidate produced NaN/inf");
    }
}

void test_attention(Backend& c, Backend& r, const OpTestOptions& o, Checker& ck) {
  std::mt19937_64 rng(o.seed + 99);
  struct Shape { int64_t n_tok, n_kv, n_head, n_head_kv, d_k, d_v; };
  std::vector<Shape> shapes = {{1, 1, 1, 1, 3, 3},     {3, 3, 4, 2, 16, 8},
                               {1, 65, 8, 1, 80, 64},  {7, 70, 8, 8, 48, 32},
                               {5, 63, 6, 3, 65, 63},
                               // n_tok >= 16 takes the blocked (GEMM) path: several query
                               // blocks with a cached past, GQA, and MLA-absorbed-like dims.
                               {100, 130, 4, 2, 64, 64}, {17, 17, 3, 1, 576, 512},
                               // one KV head, >= 8 query heads, few tokens: the MQA decode
                               // items (MLA absorbed decode): one token over three key
                               // ranges; two tokens with a d_v % 16 tail; three tokens,
                               // 20 heads (6-head tiles and a 2-head one), six ranges
                               {1, 300, 16, 1, 576, 512}, {2, 41, 8, 1, 72, 40},
                               {3, 700, 20, 1, 96, 80},
                               // GQA decode: keys split over items (several 32..512-key
                               // ranges, merged), one short range, MHA
                               {1, 300, 9, 3, 64, 64}, {3, 1100, 12, 4, 128, 128},
                               {1, 20, 4, 4, 32, 32}};
  if (!o.quick) shapes.push_back({4, 4097, 2, 1, 64, 64});
  // Every case is kept for the attention_batch check at the end (all shapes in one call).
  struct Case {
    Tensor q, k, v, orf;
    std::vector<int32_t> pos;
    AttentionArgs a;
  };
  std::deque<Case> cases;
  for (const Shape& s : shapes) {
    Case& cs = cases.emplace_back();
    Tensor& q = cs.q = random_f32(rng, {s.n_tok, s.n_head, s.d_k});
    Tensor& k = cs.k = random_f32(rng, {s.n_kv, s.n_head_kv, s.d_k});
    Tensor& v = cs.v = random_f32(rng, {s.n_kv, s.n_head_kv, s.d_v});
    std::vector<int32_t>& pos = cs.pos;
    pos.resize(size_t(s.n_tok));
    for (int64_t t = 0; t < s.n_tok; ++t) pos[t] = int32_t(s.n_kv - s.n_tok + t);
    Guarded oc({s.n_tok, s.n_head, s.d_v});
    Tensor& orf = cs.orf = Tensor::zeros(DType::F32, {s.n_tok, s.n_head, s.d_v});
    AttentionArgs& a = cs.a;
    a.q = q.f32();
    a.q_stride_tok = s.n_head * s.d_k;
    a.q_stride_head = s.d_k;
    a.k = k.f32();
    a.k_stride_tok = s.n_head_kv * s.d_k;
    a.k_stride_head = s.d_k;
    a.v = v.f32();
    a.v_stride_tok = s.n_head_kv * s.d_v;
    a.v_stride_head = s.d_v;
    a.o_stride_tok = s.n_head * s.d_v;
    a.o_stride_head = s.d_v;
    a.n_tok = s.n_tok;
    a.n_kv = s.n_kv;
    a.n_head = s.n_head;
    a.n_head_kv = s.n_head_kv;
    a.d_k = s.d_k;
    a.d_v = s.d_v;
    a.q_pos = pos.data();
    a.scale = 1.0f / std::sqrt(float(s.d_k));
    a.out = oc.t.f32();
    c.attention(a);
    a.out = orf.f32();
    r.attention(a);
    // The same keys scattered over a paged arena (blocks of 16 in shuffled order) must give
    // the same output as the contiguous reference.
    {
      const int64_t bs = 16, nb = (s.n_kv + bs - 1) / bs;
      std::vector<int32_t> table(nb);
      for (int64_t b = 0; b < nb; ++b) table[b] = int32_t((b * 7 + 3) % nb);
      Tensor kp = Tensor::zeros(DType::F32, {nb * bs, s.n_head_kv, s.d_k});
      Tensor vp = Tensor::zeros(DType::F32, {nb * bs, s.n_head_kv, s.d_v});
      for (int64_t j = 0; j < s.n_kv; ++j) {
        const int64_t row = int64_t(table[j / bs]) * bs + j % bs;
        std::memcpy(kp.f32() + row * s.n_head_kv * s.d_k, k.f32() + j * s.n_head_kv * s.d_k, s.n_head_kv * s.d_k * 4);
        std::memcpy(vp.f32() + row * s.n_head_kv * s.d_v, v.f32() + j * s.n_head_kv * s.d_v, s.n_head_kv * s.d_v * 4);
      }
      Guarded op({s.n_tok, s.n_head, s.d_v});
      AttentionArgs pa = a;
      pa.k = kp.f32();
      pa.v = vp.f32();
      pa.kv_block_table = table.data();
      pa.kv_block_size = bs;
      pa.out = op.t.f32();
      c.attention(pa);
      ck.add(Op::Attention, "attention paged(16) tok=" + std::to_string(s.n_tok) + " kv=" + std::to_string(s.n_kv),
             nmse(op.t, orf), kNmseF32, check_outputs(op, orf));
    }
    ck.add(Op::Attention,
           "attention tok=" + std::to_string(s.n_tok) + " kv=" + std::to_string(s.n_kv) +
               " heads=" + std::to_string(s.n_head) + "/" + std::to_string(s.n_head_kv) +
               " dk=" + std::to_string(s.d_k) + " dv=" + std::to_string(s.d_v),
           nmse(oc.t, orf), kNmseF32, check_outputs(oc, orf));
  }
  std::vector<AttentionArgs> list;
  std::deque<Guarded> outs;
  for (Case& cs : cases) {
    list.push_back(cs.a);
    list.back().out = outs.emplace_back(cs.orf.shape).t.f32();
  }
  c.attention_batch(list);
  for (size_t i = 0; i < cases.size(); ++i)
    ck.add(Op::Attention, "attention_batch call " + std::to_string(i) + " of " + std::to_string(cases.size()),
           nmse(outs[i].t, cases[i].orf), kNmseF32, check_outputs(outs[i], cases[i].orf));
}

void test_moe(Backend& c, Backend& r, const OpTestOptions& o, Checker& ck) {
  std::mt19937_64 rng(o.seed + 5);
  // Routing: selections must agree exactly (random scores have gaps far above float noise),
  // weights to float32 noise.
  for (bool sig : {false, true}) {
    MoeRouteArgs a;
    a.scoring = sig ? ScoringFunc::Sigmoid : ScoringFunc::Softmax;
    a.n_group = sig ? 4 : 1;
    a.topk_group = sig ? 2 : 1;
    a.top_k = sig ? 4 : 6;
    a.group_by_top2_sum = sig;
    a.norm_topk_prob = sig;
    a.routed_scaling_factor = sig ? 2.5f : 1.0f;
    Tensor bias = random_f32(rng, {16}, 0.1f);
    a.bias = sig ? bias.f32() : nullptr;
    Tensor logits = random_f32(rng, {9, 16});
    Tensor ic = Tensor::zeros(DType::I32, {9, a.top_k}), ir = ic;
    ir = Tensor::zeros(DType::I32, {9, a.top_k});
    Guarded wc({9, a.top_k});
    Tensor wr = Tensor::zeros(DType::F32, {9, a.top_k});
    c.moe_route(logits, a, ic, wc.t);
    r.moe_route(logits, a, ir, wr);
    const bool same = std::memcmp(ic.data, ir.data, ic.nbytes()) == 0;
    ck.add(Op::MoeRoute, std::string("moe_route ") + (sig ? "sigmoid+groups" : "softmax"),
           nmse(wc.t, wr), kNmseF32, same ? check_outputs(wc, wr) : "expert ids differ");
  }
  // One moe_ffn case: ne random experts [f, d] / [d, f], n tokens routed to k experts each by
  // expert_of(slot), candidate against the reference by NMSE.
  auto moe_case = [&](DType dt, int64_t ne, int64_t d, int64_t f, int64_t n, int64_t k,
                      const std::function<int32_t(int64_t)>& expert_of, const std::string& desc,
                      double bound) {
    std::vector<Tensor> ws;
    for (int64_t e = 0; e < ne; ++e) {
      ws.push_back(random_weight(rng, dt, f, d));
      ws.push_back(random_weight(rng, dt, f, d));
      ws.push_back(random_weight(rng, dt, d, f));
    }
    std::vector<ExpertWeights> ex(ne);
    for (int64_t e = 0; e < ne; ++e) ex[e] = {&ws[3 * e], &ws[3 * e + 1], &ws[3 * e + 2]};
    Tensor x = random_f32(rng, {n, d});
    Tensor ids = Tensor::zeros(DType::I32, {n, k});
    Tensor w = random_f32(rng, {n, k});
    for (int64_t i = 0; i < n * k; ++i) ids.ptr<int32_t>()[i] = expert_of(i);
    Guarded yc({n, d});
    Tensor yr = Tensor::zeros(DType::F32, {n, d});
    c.moe_ffn(x, ids, w, ex, yc.t);
    r.moe_ffn(x, ids, w, ex, yr);
    ck.add(Op::MoeFfn, desc, nmse(yc.t, yr), bound, check_outputs(yc, yr));
  };
  for (DType dt : {DType::F32, DType::BF16, DType::F8_E4M3}) {
    if (!c.supports(Op::MoeFfn, dt)) continue;
    const int64_t ne = 8, k = 3;
    moe_case(dt, ne, 65, 33, 6, k, [&](int64_t i) { return int32_t((i * 5 + i / k) % ne); },
             "moe_ffn w=" + std::string(dtype_name(dt)), kNmseF32);
  }
  // Quantized experts (dims multiples of 256). The candidate may quantize both matmul inputs
  // to 8 bits (see kQuantTypes): an activation rounded with step d = amax / 127 carries an
  // error of variance d^2 / 12, so each matmul adds NMSE ~ (amax / rms)^2 / (12 * 127^2);
  // with amax / rms <= 4 for the Gaussian x (256-element blocks) and <= 8 for the heavier-
  // tailed silu(g) * u, the two stages sum to NMSE ~ 3e-4. This is an expected-value bound,
  // not a worst case (test_matmul checks the worst case per element); 3e-3 leaves 10x margin
  // while a wrong block or scale gives NMSE >= 1e-2.
  // n = 5 spreads the tokens (every expert takes the small-expert fused path); n = 20 sends
  // every token's first choice to expert 0, which then runs the batched matmul path.
  // moe_ffn_shared: the same routing plus a shared expert twice as wide (as in DeepSeek's
  // GGUF files, where the shared experts are one wider MLP), of type st, against the
  // reference's moe_ffn followed by the shared MLP. Same-format shared experts join the
  // fused path at n = 5; a Q8_0 shared expert next to Q4_K experts (another activation
  // format) and the n = 20 cases take the separate paths.
  auto shared_case = [&](DType dt, DType st, int64_t n) {
    const int64_t ne = 4, k = 2, d = 256, f = 256;
    std::vector<Tensor> ws;
    for (int64_t e = 0; e < ne; ++e) {
      ws.push_back(random_weight(rng, dt, f, d));
      ws.push_back(random_weight(rng, dt, f, d));
      ws.push_back(random_weight(rng, dt, d, f));
    }
    ws.push_back(random_weight(rng, st, 2 * f, d));
    ws.push_back(random_weight(rng, st, 2 * f, d));
    ws.push_back(random_weight(rng, st, d, 2 * f));
    std::vector<ExpertWeights> ex(ne);
    for (int64_t e = 0; e < ne; ++e) ex[e] = {&ws[3 * e], &ws[3 * e + 1], &ws[3 * e + 2]};
    const ExpertWeights sh{&ws[3 * ne], &ws[3 * ne + 1], &ws[3 * ne + 2]};
    Tensor x = random_f32(rng, {n, d});
    Tensor ids = Tensor::zeros(DType::I32, {n, k});
    Tensor w = random_f32(rng, {n, k});
    for (int64_t i = 0; i < n * k; ++i) ids.ptr<int32_t>()[i] = int32_t((i * 3 + i / k) % ne);
    Guarded yc({n, d});
    Tensor yr = Tensor::zeros(DType::F32, {n, d});
    c.moe_ffn_shared(x, ids, w, ex, sh, yc.t);
    r.moe_ffn_shared(x, ids, w, ex, sh, yr);
    ck.add(Op::MoeFfn,
           "moe_ffn_shared w=" + std::string(dtype_name(dt)) + " shared=" + std::string(dtype_name(st)) +
               " n=" + std::to_string(n),
           nmse(yc.t, yr), 3e-3, check_outputs(yc, yr));  // bound as for the quantized moe_ffn below
  };
  for (DType dt : {DType::Q8_0, DType::Q4_K})
    for (int64_t n : {int64_t(1), int64_t(5), int64_t(20)})
      if (c.supports(Op::MoeFfn, dt)) shared_case(dt, dt, n);
  if (c.supports(Op::MoeFfn, DType::Q4_K) && c.supports(Op::MoeFfn, DType::Q8_0)) {
    shared_case(DType::Q4_K, DType::Q6_K, 3);
    shared_case(DType::Q4_K, DType::Q8_0, 3);
  }
  for (DType dt : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K})
    for (int64_t n : {int64_t(5), int64_t(20)}) {
      if (!c.supports(Op::MoeFfn, dt)) continue;
      const int64_t ne = 4, k = 2;
      auto expert_of = [&](int64_t i) {
        return n > 16 ? int32_t(i % k == 0 ? 0 : 1 + i % 3) : int32_t((i * 3 + i / k) % ne);
      };
      moe_case(dt, ne, 256, 256, n, k, expert_of,
               "moe_ffn w=" + std::string(dtype_name(dt)) + " d=256 f=256 n=" + std::to_string(n), 3e-3);
    }
}

}  // namespace

std::vector<OpTestResult> run_op_tests(Backend& cand, Backend& ref, const OpTestOptions& o) {
  std::vector<OpTestResult> out;
  Checker ck{&out};
  auto want = [&](Op op) { return o.op.empty() || o.op == op_name(op); };
  if (want(Op::Matmul)) {
    test_matmul(cand, ref, o, ck, false);
    test_matmul_batch(cand, ref, o, ck);
  }
  if (want(Op::MatmulXW)) test_matmul(cand, ref, o, ck, true);
  for (Op op : {Op::RmsNorm, Op::SiluMul, Op::Add, Op::Softmax, Op::Embedding})
    if (want(op)) test_elementwise(cand, ref, o, ck, op);
  if (want(Op::Rope)) test_rope(cand, ref, o, ck);
  if (want(Op::Attention)) test_attention(cand, ref, o, ck);
  if (want(Op::MoeRoute) || want(Op::MoeFfn)) test_moe(cand, ref, o, ck);
  if (!o.op.empty() && want(Op::MoeRoute) != want(Op::MoeFfn)) {
    // test_moe covers both; keep only the requested one.
    std::vector<OpTestResult> kept;
    for (auto& r : out)
      if (o.op == op_name(r.op)) kept.push_back(r);
    out.swap(kept);
  }
  return out;
}

}  // namespace dsrt
