// cpu/opt: the first optimized CPU path — the persistent thread pool splits every hot op,
// inner loops are contiguous, and F32 dot products use AVX2/FMA where the build targets it
// (a portable scalar loop elsewhere, e.g. ARM, until the SIMD issue brings Highway).
// Ops not listed in supports() are served by cpu/ref through FallbackBackend.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu_opt/gemm.h"
#include "backends/cpu_opt/gemm_int8.h"
#include "backends/cpu_opt/quant_dot.h"
#include "backends/cpu_opt/vec_math.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define DSRT_HAVE_AVX2 1
#endif

namespace dsrt {
namespace {

inline float dot_f32(const float* a, const float* b, int64_t n) {
  int64_t i = 0;
  float tail = 0;
#ifdef DSRT_HAVE_AVX2
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  s0 = _mm256_add_ps(s0, s1);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
  h = _mm_hadd_ps(h, h);
  h = _mm_hadd_ps(h, h);
  tail = _mm_cvtss_f32(h);
#else
  float s[4] = {0, 0, 0, 0};
  for (; i + 4 <= n; i += 4)
    for (int j = 0; j < 4; ++j) s[j] += a[i + j] * b[i + j];
  tail = (s[0] + s[1]) + (s[2] + s[3]);
#endif
  for (; i < n; ++i) tail += a[i] * b[i];
  return tail;
}

// out[j] = q . rows[j] for n rows of d floats: attention scores. With AVX2 eight rows go
// at a time and their eight accumulators are reduced together by an hadd tree (9 shuffles
// and adds for eight sums instead of a horizontal sum of each).
inline void dots_rows(const float* q, const float* const* rows, int64_t n, int64_t d, float* out) {
  int64_t j = 0;
#ifdef DSRT_HAVE_AVX2
  if (d % 8 == 0) {
    for (; j + 8 <= n; j += 8) {
      __m256 a[8];
      for (int r = 0; r < 8; ++r) a[r] = _mm256_setzero_ps();
      for (int64_t c = 0; c < d; c += 8) {
        const __m256 qv = _mm256_loadu_ps(q + c);
        for (int r = 0; r < 8; ++r) a[r] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(rows[j + r] + c), a[r]);
      }
      const __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
      const __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
      // u0 = [s0..s3 low halves | s0..s3 high halves] (same for u1 with s4..s7)
      _mm256_storeu_ps(out + j, _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
                                              _mm256_permute2f128_ps(u0, u1, 0x31)));
    }
  }
#endif
  for (; j < n; ++j) out[j] = dot_f32(q, rows[j], d);
}

// o[0, d) = sum_j p[j] * rows[j][0, d): attention's P.V for one query head over gathered
// value rows, with the output columns in registers (32 at a time) instead of an
// accumulator vector read and written back per row.
inline void weighted_rows(const float* p, const float* const* rows, int64_t n, int64_t d, float* o) {
  int64_t c = 0;
#ifdef DSRT_HAVE_AVX2
  for (; c + 32 <= d; c += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t j = 0; j < n; ++j) {
      const __m256 w = _mm256_broadcast_ss(p + j);
      const float* r = rows[j] + c;
      a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(r), a0);
      a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(r + 8), a1);
      a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(r + 16), a2);
      a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(r + 24), a3);
    }
    _mm256_storeu_ps(o + c, a0);
    _mm256_storeu_ps(o + c + 8, a1);
    _mm256_storeu_ps(o + c + 16, a2);
    _mm256_storeu_ps(o + c + 24, a3);
  }
  for (; c + 8 <= d; c += 8) {
    __m256 a0 = _mm256_setzero_ps();
    for (int64_t j = 0; j < n; ++j) a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j), _mm256_loadu_ps(rows[j] + c), a0);
    _mm256_storeu_ps(o + c, a0);
  }
#endif
  if (c == d) return;
  std::fill(o + c, o + d, 0.0f);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = c; i < d; ++i) o[i] += p[j] * rows[j][i];
}

// Row decode for the 16-bit weight types with SIMD conversion (F16C / a bf16 shift); other
// types go through the shared scalar decoder.
inline void decode_row(const Tensor& w, int64_t r, float* out) {
  const int64_t n = w.cols();
#ifdef DSRT_HAVE_AVX2
  if (w.dtype == DType::BF16 || w.dtype == DType::F16) {
    const uint16_t* src = reinterpret_cast<const uint16_t*>(w.row_ptr(r));
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
      __m256 f;
      if (w.dtype == DType::F16) {
        f = _mm256_cvtph_ps(h);
      } else {
        f = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
      }
      _mm256_storeu_ps(out + i, f);
    }
    for (; i < n; ++i) out[i] = w.dtype == DType::F16 ? f16_to_f32(src[i]) : bf16_to_f32(src[i]);
    return;
  }
#endif
  weight_row_to_f32(w, r, out);
}

#ifdef DSRT_HAVE_AVX2
// Dot of an F16/BF16 weight row read in place with an F32 row (GEMV: no decoded copy of the
// row is written and read back). Four accumulators cover the FMA latency.
template <bool kF16>
inline __m256 load8_half(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if constexpr (kF16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
template <bool kF16>
float dot_half_f32(const uint16_t* w, const float* x, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(load8_half<kF16>(w + i), _mm256_loadu_ps(x + i), s0);
    s1 = _mm256_fmadd_ps(load8_half<kF16>(w + i + 8), _mm256_loadu_ps(x + i + 8), s1);
    s2 = _mm256_fmadd_ps(load8_half<kF16>(w + i + 16), _mm256_loadu_ps(x + i + 16), s2);
    s3 = _mm256_fmadd_ps(load8_half<kF16>(w + i + 24), _mm256_loadu_ps(x + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load8_half<kF16>(w + i), _mm256_loadu_ps(x + i), s0);
  s0 = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
  h = _mm_hadd_ps(h, h);
  h = _mm_hadd_ps(h, h);
  float t = _mm_cvtss_f32(h);
  for (; i < n; ++i) t += (kF16 ? f16_to_f32(w[i]) : bf16_to_f32(w[i])) * x[i];
  return t;
}
#endif

// Row addressing with the row size computed once (Tensor::row_ptr recomputes and checks it
// per call, which showed at 5% of a decode profile).
struct Rows {
  explicit Rows(const Tensor& t) : base(static_cast<const uint8_t*>(t.data)), stride(t.row_bytes()) {}
  const uint8_t* operator()(int64_t r) const { return base + size_t(r) * stride; }
  const uint8_t* base;
  size_t stride;
};

inline void axpy_f32(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// From this many rows of x on, matmul runs a GEMM: the integer one (gemm_int8.h) for the
// 32-block legacy and the K types from kGemmMinRows (bench_ops BM_QuantMatmul, 2048 x 2048,
// n = 16: Q4_K 101 vs 73 GOP/s for the dots, Q6_K 81 vs 84), the float micro-kernel on
// decoded panels for the rest; below it the per-row dot products (integer for quantized
// weights). The float GEMM's crossovers (bench_ops BM_Matmul / BM_QuantMatmul, 2 threads,
// 2048 x 2048): the 32-block types' integer dots lose to the GEMM from about 16 rows, the K types' (whose
// unpacked tiles are cheap to reuse) from about 64; F32/F16/BF16 use gemm_small (dot-style
// tiles over the weights in place, no packing) from 2 rows up to 64.
constexpr int64_t kGemmMinRows = 16;
constexpr int64_t kGemmMinRowsK = 64;
constexpr int64_t kGemmMinRowsFloat = 64;

class CpuOptBackend final : public Backend {
 public:
  CpuOptBackend(std::shared_ptr<ThreadPool> pool, CpuOptOptions opt)
      : pool_(std::move(pool)), opt_(opt) {}
  std::string name() const override { return "cpu"; }
  bool supports(Op op, DType wt) const override {
    switch (op) {
      case Op::Matmul:
      case Op::MatmulXW:
      case Op::MoeFfn:
        return weight_dtype_supported(wt);
      case Op::Attention:
      case Op::Rope:
      case Op::SiluMul:
      case Op::Add:
      case Op::RmsNorm:
        return true;
      default:
        return false;  // served by cpu/ref
    }
  }

  void matmul(const Tensor& x, const Tensor& w, Tensor& y) override {
    const int64_t n = x.rows(), k = x.cols(), m = w.rows();
    DSRT_CHECK_MSG(w.cols() == k, "matmul: " + w.name + " has " + std::to_string(w.cols()) +
                                      " columns, x has " + std::to_string(k));
    DSRT_CHECK(y.rows() == n && y.cols() == m && x.dtype == DType::F32);
    const bool float_w = w.dtype == DType::F32 || w.dtype == DType::F16 || w.dtype == DType::BF16;
    if (float_w && n >= 2 && n < kGemmMinRowsFloat) {
      // A few rows (batched decode): dot-style tiles over the weights in place, no packing.
      const gemm::HalfKind hk = w.dtype == DType::F32 ? gemm::HalfKind::F32
                                : w.dtype == DType::F16 ? gemm::HalfKind::F16 : gemm::HalfKind::BF16;
      gemm::gemm_small(x.f32(), k, n, k, m, w.data, k, hk, y.f32(), m, *pool_);
      return;
    }
    const qdot::ActFormat af = qdot::act_format(w.dtype);
    const int64_t gemm_min = float_w                          ? kGemmMinRowsFloat
                             : af == qdot::ActFormat::Q8x256 ? kGemmMinRowsK
                                                              : kGemmMinRows;
    if (n >= kGemmMinRows && opt_.quant == QuantKernels::Best && gemm::int8_gemm_supported(w.dtype)) {
      // The legacy 32-block and the K types: integer GEMM on 8-row panels (gemm_int8.h),
      // activations quantized once like the dot path's.
      qdot::QuantizedActs acts;
      quantize_x(x, w, af, &acts);
      const Rows wr(w);
      gemm::gemm_q8_legacy(w.dtype, wr(0), wr.stride, m, acts, y.f32(), m, pool_.get());
      return;
    }
    if (n >= gemm_min) {
      // Enough tokens to amortize decoding each weight row to F32 once: register-blocked GEMM.
      if (qdot::act_format(w.dtype) != qdot::ActFormat::None) {
        const Rows wr(w);
        const gemm::RowDecoder dec = [&](int64_t r, float* out) {
          thread_local qdot::UnpackedRow scratch;
          qdot::dequantize_row(w.dtype, wr(r), k, &scratch, out);
        };
        gemm::gemm_f32(x.f32(), k, n, k, m, dec, y.f32(), m, pool_.get());
      } else {
        gemm::gemm_f32(x.f32(), k, n, k, m, [&](int64_t r, float* out) { decode_row(w, r, out); },
                       y.f32(), m, pool_.get());
      }
      return;
    }
    if (opt_.quant != QuantKernels::DecodeF32 && qdot::act_format(w.dtype) != qdot::ActFormat::None) {
      quant_matmul(x, w, y);
      return;
    }
    const float* xp = x.f32();
    float* yp = y.f32();
    const bool direct = w.dtype == DType::F32;
#ifdef DSRT_HAVE_AVX2
    if (w.dtype == DType::F16 || w.dtype == DType::BF16) {
      const bool f16 = w.dtype == DType::F16;
      const Rows wr(w);
      pool_->parallel_for(m, [&](int64_t j0, int64_t j1, int) {
        for (int64_t j = j0; j < j1; ++j) {
          const uint16_t* row = reinterpret_cast<const uint16_t*>(wr(j));
          for (int64_t i = 0; i < n; ++i)
            yp[i * m + j] = f16 ? dot_half_f32<true>(row, xp + i * k, k) : dot_half_f32<false>(row, xp + i * k, k);
        }
      });
      return;
    }
#endif
    pool_->parallel_for(m, [&](int64_t j0, int64_t j1, int) {
      std::vector<float> buf(direct ? 0 : k);
      for (int64_t j = j0; j < j1; ++j) {
        const float* row;
        if (direct) {
          row = reinterpret_cast<const float*>(w.row_ptr(j));
        } else {
          decode_row(w, j, buf.data());
          row = buf.data();
        }
        for (int64_t i = 0; i < n; ++i) yp[i * m + j] = dot_f32(xp + i * k, row, k);
      }
    });
  }

  // Single-row jobs whose weights the GEMV kernels read in place run as one parallel region
  // over all their rows (16 heads x 2 tiny matrices per MLA layer would otherwise be 32
  // hand-offs per token); anything else goes through matmul one job at a time.
  void matmul_batch(const std::vector<MatmulJob>& jobs) override {
    const qdot::Isa is = isa();
    bool fused = !jobs.empty();
    for (const MatmulJob& j : jobs) {
      const DType dt = j.w->dtype;
      const int64_t k = j.w->cols();
      DSRT_CHECK(j.x->cols() == k && j.y->rows() == j.x->rows() && j.y->cols() == j.w->rows());
      const qdot::ActFormat af = qdot::act_format(dt);
      const bool quant_ok = opt_.quant != QuantKernels::DecodeF32 && af != qdot::ActFormat::None &&
                            qdot::has_direct(dt, is) && k % qdot::act_block(af) == 0;
#ifdef DSRT_HAVE_AVX2
      const bool float_ok = dt == DType::F32 || dt == DType::F16 || dt == DType::BF16;
#else
      const bool float_ok = dt == DType::F32;
#endif
      fused = fused && j.x->rows() == 1 && (quant_ok || float_ok);
    }
    if (!fused) {
      for (const MatmulJob& j : jobs) matmul(*j.x, *j.w, *j.y);
      return;
    }
    const size_t nj = jobs.size();
    std::vector<qdot::QuantizedActs> acts(nj);
    std::vector<int64_t> first(nj + 1, 0);
    std::vector<Rows> rows;
    for (size_t i = 0; i < nj; ++i) {
      const MatmulJob& j = jobs[i];
      const qdot::ActFormat af = qdot::act_format(j.w->dtype);
      if (af != qdot::ActFormat::None) {
        acts[i].resize(af, 1, j.w->cols());
        qdot::quantize_acts(j.x->f32(), 0, 1, &acts[i]);
      }
      first[i + 1] = first[i] + j.w->rows();
      rows.emplace_back(*j.w);
    }
    pool_->parallel_for(first.back(), [&](int64_t b, int64_t e, int) {
      size_t i = size_t(std::upper_bound(first.begin(), first.end(), b) - first.begin()) - 1;
      for (int64_t it = b; it < e; ++it) {
        while (it >= first[i + 1]) ++i;
        const MatmulJob& j = jobs[i];
        const int64_t r = it - first[i], k = j.w->cols();
        const uint8_t* wr = rows[i](r);
        if (qdot::act_format(j.w->dtype) != qdot::ActFormat::None) {  // this job's rows up to e
          const int64_t nr = std::min(e, first[i + 1]) - it;
          qdot::dot_direct_rows(j.w->dtype, wr, rows[i].stride, nr, acts[i], 0, is, j.y->f32() + r, 1);
          it += nr - 1;
          continue;
        }
        float v;
        switch (j.w->dtype) {
          case DType::F32:
            v = dot_f32(j.x->f32(), reinterpret_cast<const float*>(wr), k);
            break;
#ifdef DSRT_HAVE_AVX2
          case DType::F16:
            v = dot_half_f32<true>(reinterpret_cast<const uint16_t*>(wr), j.x->f32(), k);
            break;
          case DType::BF16:
            v = dot_half_f32<false>(reinterpret_cast<const uint16_t*>(wr), j.x->f32(), k);
            break;
#endif
          default:  // block-quantized (checked above)
            v = qdot::dot_direct(j.w->dtype, wr, acts[i], 0, is);
        }
        j.y->f32()[r] = v;
      }
    });
  }

  bool fast_matmul_xw() const override { return true; }

  void matmul_xw(const Tensor& x, const Tensor& w, Tensor& y) override {
    const int64_t n = x.rows(), k = x.cols(), m = w.cols();
    DSRT_CHECK(w.rows() == k && y.rows() == n && y.cols() == m);
    const float* xp = x.f32();
    float* yp = y.f32();
    if (n >= kGemmMinRows) {
      // Prefill-sized (MLA's K expansion through W_UK^T): the GEMM with W's rows as the
      // columns of its weight. Other types than F32 are decoded to F32 once first (each row
      // feeds m / 16 panels; W_UK^T of one head is 512 x 128, 256 KiB).
      const float* wf = w.dtype == DType::F32 ? w.f32() : nullptr;
      std::vector<float> dec;
      if (!wf) {
        dec.resize(size_t(k * m));
        pool_->parallel_for(k, [&](int64_t c0, int64_t c1, int) {
          for (int64_t c = c0; c < c1; ++c) decode_row(w, c, dec.data() + c * m);
        });
        wf = dec.data();
      }
      gemm::gemm_f32_wt(
          xp, k, n, k, m,
          [&](int64_t c, int64_t j0, int nc, float* out) { std::copy_n(wf + c * m + j0, nc, out); },
          yp, m, pool_.get());
      return;
    }
    // Split the output columns; each thread decodes the rows of W it needs once.
    pool_->parallel_for(m, [&](int64_t j0, int64_t j1, int) {
      std::vector<float> buf(m);
      for (int64_t i = 0; i < n; ++i) std::fill(yp + i * m + j0, yp + i * m + j1, 0.0f);
      for (int64_t c = 0; c < k; ++c) {
        decode_row(w, c, buf.data());
        for (int64_t i = 0; i < n; ++i) axpy_f32(xp[i * k + c], buf.data() + j0, yp + i * m + j0, j1 - j0);
      }
    });
  }

  void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) override {
    const int64_t n = x.rows(), d = x.cols();
    DSRT_CHECK(w.numel() == d && y.rows() == n && y.cols() == d);
    auto rows = [&](int64_t i0, int64_t i1, int) {
      for (int64_t i = i0; i < i1; ++i) {
        const float* xi = x.f32() + i * d;
        const float ss = dot_f32(xi, xi, d);
        const float r = 1.0f / std::sqrt(ss / float(d) + eps);
        float* yi = y.f32() + i * d;
        for (int64_t c = 0; c < d; ++c) yi[c] = xi[c] * r * w.f32()[c];
      }
    };
    elementwise(n * d, n, rows);
  }

  // The reference's arithmetic (angle in float32, cos/sin per token and pair, scaled by
  // attn_factor), token ranges over the pool for a prefill: it ran single-threaded at ~1% of a
  // pp512 profile.
  void rope(const RopeArgs& a) override {
    const int64_t half = a.rope_dim / 2;
    elementwise(a.n_tok * a.n_head * a.rope_dim, a.n_tok, [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t i = 0; i < half; ++i) {
          const float ang = float(a.pos[t]) * a.inv_freq[i];
          const float c = std::cos(ang) * a.attn_factor, sn = std::sin(ang) * a.attn_factor;
          const int64_t i0 = a.interleaved ? 2 * i : i, i1 = a.interleaved ? 2 * i + 1 : i + half;
          for (int64_t h = 0; h < a.n_head; ++h) {
            float* p = a.x + t * a.stride_tok + h * a.stride_head;
            const float x0 = p[i0], x1 = p[i1];
            p[i0] = x0 * c - x1 * sn;
            p[i1] = x0 * sn + x1 * c;
          }
        }
    });
  }
  void softmax(Tensor&) override { DSRT_CHECK(false); }

  void silu_mul(const Tensor& g, const Tensor& u, Tensor& y) override {
    const int64_t n = g.numel();
    DSRT_CHECK(u.numel() == n && y.numel() == n);
    const float* gp = g.f32();
    const float* up = u.f32();
    float* yp = y.f32();
    elementwise(n, n / 4096 + 1, [&](int64_t b, int64_t e, int) {
      const int64_t lo = b * 4096, hi = std::min(n, e * 4096);
      vmath::silu_mul(gp + lo, up + lo, yp + lo, hi - lo);
    });
  }

  void add(const Tensor& x, Tensor& y) override {
    const int64_t n = x.numel();
    DSRT_CHECK(y.numel() == n);
    const float* xp = x.f32();
    float* yp = y.f32();
    elementwise(n, n / 4096 + 1, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b * 4096; i < std::min(n, e * 4096); ++i) yp[i] += xp[i];
    });
  }

  void embedding(const Tensor&, const int32_t*, int64_t, Tensor&) override { DSRT_CHECK(false); }

  void attention(const AttentionArgs& a) override { attention_batch({a}); }

  // Prefill-sized calls take the blocked GEMM path, one KV head under many query heads (MLA
  // absorbed decode) the MQA GEMMs; every other (decode-sized) call of the list becomes items
  // of one parallel region (attention_decode), so a batched decode step costs one hand-off
  // per layer, not one per sequence.
  void attention_batch(const std::vector<AttentionArgs>& list) override {
    std::vector<const AttentionArgs*> small;
    for (const AttentionArgs& a : list) {
      DSRT_CHECK(a.n_head_kv > 0 && a.n_head % a.n_head_kv == 0);
      if (a.n_tok >= kGemmMinRows) {
        attention_blocked(a);
      } else if (a.n_head_kv == 1 && a.n_head >= 8) {
        attention_mqa_decode(a);
      } else {
        small.push_back(&a);
      }
    }
    if (!small.empty()) attention_decode(small);
  }

  void moe_route(const Tensor&, const MoeRouteArgs&, Tensor&, Tensor&) override {
    DSRT_CHECK(false);
  }

  // Tokens are grouped by expert. Experts with many tokens run batched matmuls (the GEMM);
  // the rest — all of them in decode — run fused: one parallel region computes gate and up
  // rows for every (small) expert, one computes the down rows, with integer dots that read
  // the weights in place and the token's activations quantized once for all its experts.
  void moe_ffn(const Tensor& x, const Tensor& ids, const Tensor& weights,
               const std::vector<ExpertWeights>& experts, Tensor& y) override {
    moe_impl(x, ids, weights, experts, nullptr, y);
  }

  // The shared expert joins the routed experts' two parallel regions as one more small
  // expert (weight 1, every token) when it is small enough and its types fit the fused path:
  // a decode step then costs two hand-offs for the whole MoE block instead of four.
  void moe_ffn_shared(const Tensor& x, const Tensor& ids, const Tensor& weights,
                      const std::vector<ExpertWeights>& experts, const ExpertWeights& shared,
                      Tensor& y) override {
    moe_impl(x, ids, weights, experts, &shared, y);
  }

 private:
  // Row s[0, width) of attention scores to probabilities in place: the first nv entries
  // (the keys this query sees) scaled, softmaxed; the rest (masked) set to 0.
  static void softmax_row(float* s, int64_t nv, int64_t width, float scale) {
    nv = std::max<int64_t>(nv, 0);
    float mx = -INFINITY;
    for (int64_t j = 0; j < nv; ++j) mx = std::max(mx, s[j] *= scale);
    const float inv = nv > 0 ? 1.0f / vmath::exp_sub_sum(s, nv, mx) : 0.0f;
    for (int64_t j = 0; j < nv; ++j) s[j] *= inv;
    std::fill(s + nv, s + width, 0.0f);
  }

  // One head's output from the partial results of its key ranges [first, last): part(i)
  // points at range i's max m_i, sum of exponentials l_i and unnormalised output acc_i[d_v];
  // o = sum_i exp(m_i - M) acc_i / sum_i exp(m_i - M) l_i with M = max_i m_i (0 if none).
  template <class Part>
  static void merge_key_ranges(const Part& part, size_t first, size_t last, int64_t dv, float* o) {
    std::fill_n(o, dv, 0.0f);
    if (first == last) return;
    float mx = -INFINITY;
    for (size_t i = first; i < last; ++i) mx = std::max(mx, part(i)[0]);
    float sum = 0;
    for (size_t i = first; i < last; ++i) {
      const float w = std::exp(part(i)[0] - mx);
      sum += w * part(i)[1];
      axpy_f32(w, part(i) + 2, o, dv);
    }
    const float inv = 1.0f / sum;
    for (int64_t c = 0; c < dv; ++c) o[c] *= inv;
  }

  // Decode-sized attention as split-key ("flash decoding") work items: (call, query token,
  // KV head, key range). An item runs all query heads of the KV head's group over its keys,
  // so each key and value row is read once per group, and leaves per head a local max, sum
  // of exponentials and unnormalised output; the ranges of a (token, head) are merged after
  // the region. Splitting the keys gives a 2-thread pool enough items for one sequence with
  // two or three KV heads and bounds an item's score buffer on long caches.
  void attention_decode(const std::vector<const AttentionArgs*>& list) {
    constexpr int64_t kMinKeys = 32, kMaxKeys = 512;
    struct Unit {  // one (call, token, KV head): its items are [first, last)
      int32_t call, tok, hk;
      size_t first, last;
    };
    struct Item {
      size_t unit;
      int64_t j0, j1;
      int64_t part;  // offset of this item's [group][2 + d_v] results in `parts`
    };
    int64_t n_units = 0;
    for (const AttentionArgs* a : list) n_units += a->n_tok * a->n_head_kv;
    const int64_t want = 4 * int64_t(pool_->size());
    const int64_t per_unit = (want + n_units - 1) / n_units;
    std::vector<Item> items;
    std::vector<Unit> units;
    int64_t n_part = 0;
    for (size_t c = 0; c < list.size(); ++c) {
      const AttentionArgs& a = *list[c];
      const int64_t g = a.n_head / a.n_head_kv;
      for (int64_t t = 0; t < a.n_tok; ++t) {
        const int64_t nv = std::clamp<int64_t>(a.q_pos[t] + 1, 0, a.n_kv);
        const int64_t splits = nv == 0 ? 0
                                       : std::max((nv + kMaxKeys - 1) / kMaxKeys,
                                                  std::min(per_unit, (nv + kMinKeys - 1) / kMinKeys));
        for (int64_t hk = 0; hk < a.n_head_kv; ++hk) {
          Unit u{int32_t(c), int32_t(t), int32_t(hk), items.size(), 0};
          for (int64_t s = 0; s < splits; ++s) {
            items.push_back({units.size(), nv * s / splits, nv * (s + 1) / splits, n_part});
            n_part += g * (2 + a.d_v);
          }
          u.last = items.size();
          units.push_back(u);
        }
      }
    }
    std::vector<float> parts(static_cast<size_t>(n_part));
    pool_->parallel_for(int64_t(items.size()), [&](int64_t b, int64_t e, int) {
      std::vector<float> sc;
      std::vector<const float*> krows, vrows;
      for (int64_t it = b; it < e; ++it) {
        const Item& I = items[size_t(it)];
        const Unit& U = units[I.unit];
        const AttentionArgs& a = *list[size_t(U.call)];
        const int64_t g = a.n_head / a.n_head_kv, len = I.j1 - I.j0, h0 = U.hk * g;
        const float* q = a.q + U.tok * a.q_stride_tok + h0 * a.q_stride_head;
        sc.resize(size_t(g * len));
        krows.resize(size_t(len));
        vrows.resize(size_t(len));
        for (int64_t j = 0; j < len; ++j) {
          const int64_t row = a.kv_row(I.j0 + j);
          krows[size_t(j)] = a.k + row * a.k_stride_tok + U.hk * a.k_stride_head;
          vrows[size_t(j)] = a.v + row * a.v_stride_tok + U.hk * a.v_stride_head;
        }
        float* out = parts.data() + I.part;  // per head: max, sum, acc[d_v]
        for (int64_t h = 0; h < g; ++h) {
          float* s = sc.data() + h * len;
          dots_rows(q + h * a.q_stride_head, krows.data(), len, a.d_k, s);
          for (int64_t j = 0; j < len; ++j) s[j] *= a.scale;
          const float mx = *std::max_element(s, s + len);
          float* o = out + h * (2 + a.d_v);
          o[0] = mx;
          o[1] = vmath::exp_sub_sum(s, len, mx);
          weighted_rows(s, vrows.data(), len, a.d_v, o + 2);
        }
      }
    });
    for (const Unit& u : units) {  // merge the key ranges of each (token, head)
      const AttentionArgs& a = *list[size_t(u.call)];
      const int64_t g = a.n_head / a.n_head_kv;
      for (int64_t h = 0; h < g; ++h) {
        float* o = a.out + u.tok * a.o_stride_tok + (u.hk * g + h) * a.o_stride_head;
        merge_key_ranges([&](size_t i) { return parts.data() + items[i].part + h * (2 + a.d_v); },
                         u.first, u.last, a.d_v, o);
      }
    }
  }

  // Decode with one KV head shared by many query heads (MLA's absorbed form: 16+ heads over
  // the latent cache) as split-key items in one parallel region: an item takes a range of up
  // to kMaxKeys keys of one token for all heads; scores come from gemm's small tiles (2 keys
  // x 6 heads of vector accumulators, keys read in place through the block table), P V from
  // 6-head x 16-column tiles that read each value row once per 6 heads; the ranges of a
  // token are merged after the region (flash-decoding, as attention_decode). Before, two
  // packed GEMMs per token and layer (two regions, K and V copied into panels) reached ~40
  // GFLOP/s on 2 threads at every context length.
  void attention_mqa_decode(const AttentionArgs& a) {
    constexpr int64_t kMinKeys = 16, kMaxKeys = 128;
    const int64_t H = a.n_head, dv = a.d_v, dv16 = dv / 16 * 16;
    struct Item {
      int64_t tok, j0, j1;
      int64_t part;  // offset of this item's [H][2 + d_v] results in `parts`
    };
    std::vector<Item> items;
    std::vector<std::pair<size_t, size_t>> tok_items(size_t(a.n_tok));
    const int64_t want = 4 * int64_t(pool_->size());
    int64_t n_part = 0;
    for (int64_t t = 0; t < a.n_tok; ++t) {
      const int64_t nv = std::clamp<int64_t>(a.q_pos[t] + 1, 0, a.n_kv);
      const int64_t splits = nv == 0 ? 0
                                     : std::max((nv + kMaxKeys - 1) / kMaxKeys,
                                                std::min(want, (nv + kMinKeys - 1) / kMinKeys));
      tok_items[size_t(t)].first = items.size();
      for (int64_t sp = 0; sp < splits; ++sp) {
        items.push_back({t, nv * sp / splits, nv * (sp + 1) / splits, n_part});
        n_part += H * (2 + dv);
      }
      tok_items[size_t(t)].second = items.size();
    }
    std::vector<float> parts(static_cast<size_t>(n_part));
    pool_->parallel_for(int64_t(items.size()), [&](int64_t b, int64_t e, int) {
      std::vector<float> sc;
      std::vector<const float*> krows, vrows;
      for (int64_t it = b; it < e; ++it) {
        const Item& I = items[size_t(it)];
        const int64_t len = I.j1 - I.j0;
        const float* q = a.q + I.tok * a.q_stride_tok;
        sc.resize(size_t(H * len));
        krows.resize(size_t(len));
        vrows.resize(size_t(len));
        for (int64_t j = 0; j < len; ++j) {
          const int64_t row = a.kv_row(I.j0 + j);
          krows[size_t(j)] = a.k + row * a.k_stride_tok;
          vrows[size_t(j)] = a.v + row * a.v_stride_tok;
        }
        // sc[h][j] = q_h . k_j, two keys per tile
        for (int64_t j = 0; j < len; j += 2)
          gemm::small_rows_f32(q, a.q_stride_head, H, a.d_k, krows[size_t(j)],
                               j + 1 < len ? krows[size_t(j + 1)] : nullptr, sc.data() + j, len);
        float* out = parts.data() + I.part;  // per head: max, sum, acc[d_v]
        for (int64_t h = 0; h < H; ++h) {
          float* s = sc.data() + h * len;
          for (int64_t j = 0; j < len; ++j) s[j] *= a.scale;
          const float mx = *std::max_element(s, s + len);
          out[h * (2 + dv)] = mx;
          out[h * (2 + dv) + 1] = vmath::exp_sub_sum(s, len, mx);  // s becomes exp(s - mx)
        }
        for (int64_t h0 = 0; h0 < H; h0 += 6) {
          const int nh = int(std::min<int64_t>(6, H - h0));
          for (int64_t c0 = 0; c0 < dv16; c0 += 16)
            gemm::pv_tile16(sc.data() + h0 * len, len, nh, vrows.data(), len, c0,
                            out + h0 * (2 + dv) + 2 + c0, 2 + dv);
        }
        for (int64_t h = 0; h < H; ++h)  // the last d_v % 16 columns
          for (int64_t c = dv16; c < dv; ++c) {
            float acc = 0;
            for (int64_t j = 0; j < len; ++j) acc += sc[size_t(h * len + j)] * vrows[size_t(j)][c];
            out[h * (2 + dv) + 2 + c] = acc;
          }
      }
    });
    for (int64_t t = 0; t < a.n_tok; ++t) {  // merge the key ranges of each (token, head)
      const auto [first, last] = tok_items[size_t(t)];
      for (int64_t h = 0; h < H; ++h) {
        float* o = a.out + t * a.o_stride_tok + h * a.o_stride_head;
        merge_key_ranges([&](size_t i) { return parts.data() + items[i].part + h * (2 + dv); }, first,
                         last, dv, o);
      }
    }
  }

  // Element-wise work of `total` floats split in `parts` items: on the pool when it is large
  // enough to pay for a hand-off (a prefill), inline for a decode step's few thousand.
  template <class Fn>
  void elementwise(int64_t total, int64_t parts, const Fn& fn) {
    if (total >= (int64_t(1) << 16) && parts > 1) {
      pool_->parallel_for(parts, fn);
    } else {
      fn(0, parts, 0);
    }
  }

  // Prefill attention as two GEMMs per (head, block of query tokens): S = Q Kᵀ over the keys
  // the block can see, a masked softmax of each row in place, then O = P V (V's columns are
  // the GEMM's weight rows). Work items are (head, query block), spread over the pool; keys
  // past a row's position get probability 0, so only the diagonal block does masked work.
  void attention_blocked(const AttentionArgs& a) {
    constexpr int64_t kQBlock = 48;
    const int64_t group = a.n_head / a.n_head_kv;
    const int64_t n_qb = (a.n_tok + kQBlock - 1) / kQBlock;
    pool_->parallel_for(a.n_head * n_qb, [&](int64_t b, int64_t e, int) {
      std::vector<float> s;
      for (int64_t it = b; it < e; ++it) {
        const int64_t h = it / n_qb, t0 = (it % n_qb) * kQBlock;
        const int64_t tb = std::min(kQBlock, a.n_tok - t0), hk = h / group;
        int64_t nvis = 0;
        for (int64_t t = t0; t < t0 + tb; ++t) nvis = std::max<int64_t>(nvis, std::min<int64_t>(a.q_pos[t] + 1, a.n_kv));
        if (nvis == 0) {
          for (int64_t t = t0; t < t0 + tb; ++t)
            std::fill_n(a.out + t * a.o_stride_tok + h * a.o_stride_head, a.d_v, 0.0f);
          continue;
        }
        s.resize(size_t(tb * nvis));
        const float* kb = a.k + hk * a.k_stride_head;
        gemm::gemm_f32(
            a.q + t0 * a.q_stride_tok + h * a.q_stride_head, a.q_stride_tok, tb, a.d_k, nvis,
            [&](int64_t j, float* out) { std::copy_n(kb + a.kv_row(j) * a.k_stride_tok, a.d_k, out); },
            s.data(), nvis, nullptr);
        for (int64_t i = 0; i < tb; ++i)
          softmax_row(s.data() + i * nvis, std::min<int64_t>(a.q_pos[t0 + i] + 1, a.n_kv), nvis, a.scale);
        const float* vb = a.v + hk * a.v_stride_head;
        gemm::gemm_f32_wt(
            s.data(), nvis, tb, nvis, a.d_v,
            [&](int64_t j, int64_t c0, int nc, float* out) {
              std::copy_n(vb + a.kv_row(j) * a.v_stride_tok + c0, nc, out);
            },
            a.out + t0 * a.o_stride_tok + h * a.o_stride_head, a.o_stride_tok, nullptr);
      }
    });
  }

  // y = x * W^T for block-quantized W: every x row is quantized once (qdot::QuantizedActs),
  // then each thread takes a contiguous range of weight rows in tiles of kRowTile rows. A tile
  // is unpacked once and swept over all n tokens, so a weight row is decoded once per call and
  // each activation row is loaded once per tile (kRowTile dots reuse it from L1).
  void quant_matmul(const Tensor& x, const Tensor& w, Tensor& y) {
    constexpr int64_t kRowTile = 8;
    const int64_t n = x.rows(), k = x.cols(), m = w.rows();
    const qdot::ActFormat fmt = qdot::act_format(w.dtype);
    const qdot::Isa isa = this->isa();
    qdot::QuantizedActs acts;
    quantize_x(x, w, fmt, &acts);
    float* yp = y.f32();
    // Read in place when the type allows it: always for Q8_0 (already int8), and for the
    // 4/5-bit legacy types when at most two tokens would share an unpacked row.
    const Rows wr(w);
    const bool in_place =
        qdot::has_direct(w.dtype, isa) && (w.dtype == DType::Q8_0 || n <= 2);
    pool_->parallel_for(m, [&](int64_t j0, int64_t j1, int) {
      qdot::UnpackedRow tile[kRowTile];
      for (int64_t jt = j0; jt < j1; jt += kRowTile) {
        const int64_t nr = std::min(kRowTile, j1 - jt);
        if (in_place) {
          for (int64_t i = 0; i < n; ++i)
            qdot::dot_direct_rows(w.dtype, wr(jt), wr.stride, nr, acts, i, isa, yp + i * m + jt, 1);
          continue;
        }
        for (int64_t r = 0; r < nr; ++r) qdot::unpack_weight_row(w.dtype, wr(jt + r), k, &tile[r]);
        for (int64_t i = 0; i < n; ++i)
          for (int64_t r = 0; r < nr; ++r)
            yp[i * m + jt + r] = qdot::dot_unpacked(w.dtype, tile[r], acts, i, isa);
      }
    });
  }

  // The rows of x quantized to fmt, the activation format of w (on the pool from 4 rows).
  void quantize_x(const Tensor& x, const Tensor& w, qdot::ActFormat fmt, qdot::QuantizedActs* acts) {
    const int64_t n = x.rows();
    DSRT_CHECK_MSG(x.cols() % qdot::act_block(fmt) == 0,
                   w.name + ": " + std::to_string(x.cols()) + " columns is not a multiple of the block");
    acts->resize(fmt, n, x.cols());
    const float* xp = x.f32();
    if (n >= 4) {
      pool_->parallel_for(n, [&](int64_t i0, int64_t i1, int) { qdot::quantize_acts(xp, i0, i1, acts); });
    } else {
      qdot::quantize_acts(xp, 0, n, acts);
    }
  }

  qdot::Isa isa() const {
    return opt_.quant == QuantKernels::Generic ? qdot::Isa::Generic : qdot::best_isa();
  }

  // One expert's share of an MoE call: the tokens it runs on and their weights.
  struct ExpertGroup {
    const ExpertWeights* ew = nullptr;
    std::vector<int64_t> tok;
    std::vector<float> wt;
  };

  void moe_impl(const Tensor& x, const Tensor& ids, const Tensor& weights,
                const std::vector<ExpertWeights>& experts, const ExpertWeights* shared, Tensor& y) {
    const int64_t n = x.rows(), d = x.cols(), k = ids.cols();
    std::vector<ExpertGroup> groups(experts.size() + (shared ? 1 : 0));
    for (int64_t s = 0; s < n * k; ++s) {
      const int32_t e = ids.ptr<int32_t>()[s];
      DSRT_CHECK(e >= 0 && size_t(e) < experts.size());
      groups[size_t(e)].tok.push_back(s / k);
      groups[size_t(e)].wt.push_back(weights.f32()[s]);
    }
    for (size_t e = 0; e < experts.size(); ++e) groups[e].ew = &experts[e];
    if (shared) {
      ExpertGroup& g = groups.back();
      g.ew = shared;
      for (int64_t i = 0; i < n; ++i) g.tok.push_back(i), g.wt.push_back(1.0f);
    }
    std::fill(y.f32(), y.f32() + n * d, 0.0f);
    // Small experts whose types match the first small one's activation formats run fused.
    std::vector<const ExpertGroup*> small;
    qdot::ActFormat fgu = qdot::ActFormat::None, fdn = qdot::ActFormat::None;
    for (const ExpertGroup& g : groups) {
      if (g.tok.empty()) continue;
      const ExpertWeights& ew = *g.ew;
      if (int64_t(g.tok.size()) < kGemmMinRows && fused_expert_ok(ew, d)) {
        const qdot::ActFormat a = qdot::act_format(ew.gate->dtype), b = qdot::act_format(ew.down->dtype);
        if (small.empty()) fgu = a, fdn = b;
        if (a == fgu && b == fdn) {
          small.push_back(&g);
          continue;
        }
      }
      const int64_t m = int64_t(g.tok.size()), f = ew.gate->rows();
      Tensor xs = Tensor::zeros(DType::F32, {m, d});
      for (int64_t r = 0; r < m; ++r) std::copy_n(x.f32() + g.tok[size_t(r)] * d, d, xs.f32() + r * d);
      Tensor gt = Tensor::zeros(DType::F32, {m, f}), u = Tensor::zeros(DType::F32, {m, f});
      Tensor o = Tensor::zeros(DType::F32, {m, d});
      matmul_batch({{&xs, ew.gate, &gt}, {&xs, ew.up, &u}});
      silu_mul(gt, u, gt);
      matmul(gt, *ew.down, o);
      for (int64_t r = 0; r < m; ++r)
        axpy_f32(g.wt[size_t(r)], o.f32() + r * d, y.f32() + g.tok[size_t(r)] * d, d);
    }
    if (!small.empty()) moe_fused(x, small, y);
  }

  // The fused path needs weights the integer kernels read in place and row lengths that are
  // whole activation blocks.
  bool fused_expert_ok(const ExpertWeights& ew, int64_t d) const {
    if (opt_.quant == QuantKernels::DecodeF32) return false;
    const DType g = ew.gate->dtype, u = ew.up->dtype, dn = ew.down->dtype;
    if (!qdot::has_direct(g, isa()) || !qdot::has_direct(u, isa()) || !qdot::has_direct(dn, isa()))
      return false;
    const qdot::ActFormat fg = qdot::act_format(g);
    return qdot::act_format(u) == fg && d % qdot::act_block(fg) == 0 &&
           ew.gate->rows() % qdot::act_block(qdot::act_format(dn)) == 0;
  }

  // y += sum over groups and their tokens of wt * down(silu(gate x) * up x). Groups may have
  // different FFN widths (the shared expert is usually wider); all share the gate/up and the
  // down activation formats (moe_impl checks).
  void moe_fused(const Tensor& x, const std::vector<const ExpertGroup*>& groups, Tensor& y) {
    const int64_t n = x.rows(), d = x.cols(), ne = int64_t(groups.size());
    const qdot::Isa is = isa();
    const qdot::ActFormat fgu = qdot::act_format(groups[0]->ew->gate->dtype);
    const qdot::ActFormat fdn = qdot::act_format(groups[0]->ew->down->dtype);
    // Per group: first slot, first gate/up row (over all groups' rows), first hidden value.
    std::vector<int64_t> slot0(size_t(ne + 1), 0), row0(size_t(ne + 1), 0), h0(size_t(ne + 1), 0);
    std::vector<Rows> gate_rows, up_rows, down_rows;
    for (int64_t i = 0; i < ne; ++i) {
      const ExpertWeights& ew = *groups[size_t(i)]->ew;
      const int64_t f = ew.gate->rows(), m = int64_t(groups[size_t(i)]->tok.size());
      DSRT_CHECK(ew.up->rows() == f && ew.down->rows() == d && ew.down->cols() == f &&
                 ew.gate->cols() == d && ew.up->cols() == d);
      slot0[size_t(i + 1)] = slot0[size_t(i)] + m;
      row0[size_t(i + 1)] = row0[size_t(i)] + f;
      h0[size_t(i + 1)] = h0[size_t(i)] + m * f;
      gate_rows.emplace_back(*ew.gate);
      up_rows.emplace_back(*ew.up);
      down_rows.emplace_back(*ew.down);
    }
    const int64_t ns = slot0.back();
    qdot::QuantizedActs ax;
    ax.resize(fgu, n, d);
    qdot::quantize_acts(x.f32(), 0, n, &ax);
    std::vector<float> g(size_t(h0.back())), u(size_t(h0.back())), o(size_t(ns * d));
    // Which group a flattened row index belongs to (rows are grouped in order).
    auto group_of = [](const std::vector<int64_t>& first, int64_t it) {
      return int64_t(std::upper_bound(first.begin(), first.end(), it) - first.begin()) - 1;
    };
    pool_->parallel_for(row0.back(), [&](int64_t b, int64_t e, int) {
      for (int64_t it = b, ei = group_of(row0, b); it < e; ++ei) {  // the chunk's rows per group
        const int64_t r = it - row0[size_t(ei)], nr = std::min(e, row0[size_t(ei + 1)]) - it;
        const ExpertGroup& grp = *groups[size_t(ei)];
        const int64_t f = row0[size_t(ei + 1)] - row0[size_t(ei)];
        for (size_t q = 0; q < grp.tok.size(); ++q) {
          float* gp = g.data() + h0[size_t(ei)] + int64_t(q) * f + r;
          float* up = u.data() + h0[size_t(ei)] + int64_t(q) * f + r;
          qdot::dot_direct_rows(grp.ew->gate->dtype, gate_rows[size_t(ei)](r), gate_rows[size_t(ei)].stride, nr,
                                ax, grp.tok[q], is, gp, 1);
          qdot::dot_direct_rows(grp.ew->up->dtype, up_rows[size_t(ei)](r), up_rows[size_t(ei)].stride, nr, ax,
                                grp.tok[q], is, up, 1);
        }
        it += nr;
      }
    });
    vmath::silu_mul(g.data(), u.data(), g.data(), h0.back());
    std::vector<qdot::QuantizedActs> ah(static_cast<size_t>(ne));
    for (int64_t i = 0; i < ne; ++i) {
      ah[size_t(i)].resize(fdn, slot0[size_t(i + 1)] - slot0[size_t(i)], row0[size_t(i + 1)] - row0[size_t(i)]);
      qdot::quantize_acts(g.data() + h0[size_t(i)], 0, ah[size_t(i)].n, &ah[size_t(i)]);
    }
    pool_->parallel_for(ne * d, [&](int64_t b, int64_t e, int) {
      for (int64_t it = b; it < e;) {  // the chunk's rows per group
        const int64_t ei = it / d, r = it % d, nr = std::min(e, (ei + 1) * d) - it;
        const ExpertGroup& grp = *groups[size_t(ei)];
        for (int64_t q = 0; q < int64_t(grp.tok.size()); ++q)
          qdot::dot_direct_rows(grp.ew->down->dtype, down_rows[size_t(ei)](r), down_rows[size_t(ei)].stride, nr,
                                ah[size_t(ei)], q, is, o.data() + (slot0[size_t(ei)] + q) * d + r, 1);
        it += nr;
      }
    });
    for (int64_t i = 0; i < ne; ++i) {
      const ExpertGroup& grp = *groups[size_t(i)];
      for (size_t q = 0; q < grp.tok.size(); ++q)
        axpy_f32(grp.wt[q], o.data() + (slot0[size_t(i)] + int64_t(q)) * d, y.f32() + grp.tok[q] * d, d);
    }
  }

  std::shared_ptr<ThreadPool> pool_;
  CpuOptOptions opt_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_opt_backend(std::shared_ptr<ThreadPool> pool,
                                              CpuOptOptions options) {
  return std::make_unique<CpuOptBackend>(std::move(pool), options);
}

}  // namespace dsrt
