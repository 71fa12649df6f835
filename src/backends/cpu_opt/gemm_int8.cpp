#include "backends/cpu_opt/gemm_int8.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/status.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define DSRT_INT8_GEMM 1
#endif

namespace dsrt::gemm {

namespace {
constexpr int kQK = 32;   // elements per block
constexpr int kRows = 8;  // weight rows per panel (the output lanes)
constexpr int kSteps = kQK / 4;

[[maybe_unused]] bool is_legacy32(DType w) {
  return w == DType::Q4_0 || w == DType::Q4_1 || w == DType::Q5_0 || w == DType::Q5_1;
}
}  // namespace

#if defined(DSRT_INT8_GEMM)
namespace {

// The panel's quants, both kinds: for each 4 columns, [8 rows x 4 unsigned quants] (one
// 32-byte vector per k-step); rows past the matrix (r >= nr) are zero.
void interleave_quants(const qdot::UnpackedRow* rows, int64_t nr, int64_t k, uint8_t* q) {
  uint32_t* dst = reinterpret_cast<uint32_t*>(q);
  for (int64_t c = 0; c < k; c += 4)
    for (int r = 0; r < kRows; ++r) {
      uint32_t v = 0;
      if (r < nr) std::memcpy(&v, rows[r].u.data() + c, 4);
      *dst++ = v;
    }
}

// One token's results: the 8 lanes are rows r0 .. r0 + 7, of which nr exist.
inline void store_row(__m256 v, float* out, int64_t nr) {
  if (nr == kRows) {
    _mm256_storeu_ps(out, v);
  } else {
    alignas(32) float tmp[kRows];
    _mm256_store_ps(tmp, v);
    std::copy_n(tmp, nr, out);
  }
}

// A packed panel: per block, kSteps vectors of [8 rows x 4 quants], then the rows' d and m.
struct Panel {
  std::vector<uint8_t> q;  // [nb][kSteps][kRows][4]
  std::vector<float> d, m;  // [nb][kRows]
  qdot::UnpackedRow rows[kRows];
};

void pack_panel(DType w, const uint8_t* row0, size_t stride, int64_t r0, int64_t nr, int64_t k,
                Panel* p) {
  const int64_t nb = k / kQK;
  p->q.resize(size_t(nb * kQK * kRows));
  p->d.assign(size_t(nb * kRows), 0.0f);
  p->m.assign(size_t(nb * kRows), 0.0f);
  for (int r = 0; r < nr; ++r) qdot::unpack_weight_row(w, row0 + size_t(r0 + r) * stride, k, &p->rows[r]);
  interleave_quants(p->rows, nr, k, p->q.data());
  for (int64_t b = 0; b < nb; ++b)
    for (int r = 0; r < nr; ++r) {  // rows past the matrix keep zero scales
      p->d[size_t(b * kRows + r)] = p->rows[r].d[size_t(b)];
      p->m[size_t(b * kRows + r)] = p->rows[r].m[size_t(b)];
    }
}

// C tokens from t0 against one panel. kHalf: madd every half block (5-bit quants).
template <int C, bool kHalf>
void tile(const Panel& p, int64_t nb, const qdot::QuantizedActs& a, int64_t t0, float* y,
          int64_t ldy, int64_t nr) {
  const int64_t k = a.k;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  const int8_t* xq[C];
  const float* xd[C];
  const float* xs[C];
  for (int c = 0; c < C; ++c) {
    xq[c] = a.q.data() + (t0 + c) * k;
    xd[c] = a.d.data() + (t0 + c) * nb;
    xs[c] = a.dsum.data() + (t0 + c) * nb;
  }
  const uint8_t* pq = p.q.data();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i s32[C];
    for (int h = 0; h < (kHalf ? 2 : 1); ++h) {
      __m256i s16[C];
      for (int c = 0; c < C; ++c) s16[c] = _mm256_setzero_si256();
      constexpr int kN = kHalf ? kSteps / 2 : kSteps;
      for (int s = 0; s < kN; ++s) {
        const int st = h * kN + s;
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pq + st * 32));
        for (int c = 0; c < C; ++c) {
          int32_t x4;
          std::memcpy(&x4, xq[c] + b * kQK + 4 * st, 4);
          s16[c] = _mm256_add_epi16(s16[c], _mm256_maddubs_epi16(wv, _mm256_set1_epi32(x4)));
          // Keeps each sum in its register: otherwise the compiler reassociates the adds,
          // computes all steps' products first and spills them (measured: 2x slower).
          asm("" : "+x"(s16[c]));
        }
      }
      for (int c = 0; c < C; ++c) {
        const __m256i v = _mm256_madd_epi16(s16[c], ones);
        s32[c] = h == 0 ? v : _mm256_add_epi32(s32[c], v);
      }
    }
    const __m256 dw = _mm256_loadu_ps(p.d.data() + b * kRows);
    const __m256 mw = _mm256_loadu_ps(p.m.data() + b * kRows);
    for (int c = 0; c < C; ++c) {
      const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(s32[c]), _mm256_set1_ps(xd[c][b]));
      acc[c] = _mm256_fmadd_ps(f, dw, acc[c]);
      acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(xs[c][b]), mw, acc[c]);
    }
    pq += kQK * kRows;
  }
  for (int c = 0; c < C; ++c) store_row(acc[c], y + (t0 + c) * ldy, nr);
}

template <bool kHalf>
void panel_all_tokens(const Panel& p, int64_t nb, const qdot::QuantizedActs& a, float* y,
                      int64_t ldy, int64_t nr) {
  constexpr int kC = kHalf ? 4 : 6;
  int64_t t = 0;
  for (; t + kC <= a.n; t += kC) tile<kC, kHalf>(p, nb, a, t, y, ldy, nr);
  switch (a.n - t) {
    case 5: return tile<5, kHalf>(p, nb, a, t, y, ldy, nr);
    case 4: return tile<4, kHalf>(p, nb, a, t, y, ldy, nr);
    case 3: return tile<3, kHalf>(p, nb, a, t, y, ldy, nr);
    case 2: return tile<2, kHalf>(p, nb, a, t, y, ldy, nr);
    case 1: return tile<1, kHalf>(p, nb, a, t, y, ldy, nr);
    default: return;
  }
}

// ---- K types (256-element super-blocks, 16-element sub-blocks) ----
// w = dk * sc * u - dmin * mn per sub-block (qdot::unpack_weight_row); activations Q8x256 with
// per-16 sums bsum. Per super-block and token: isum = sum_sb sc * (sum u q), each sub-block's
// 16-bit sums widened by one madd with the rows' scales (exact: 4 steps x 2 x 31 x 127 <=
// 32767 for up to 5-bit quants; Q6_K's 6-bit ones are widened every 2 steps), and
// ibias = sum_sb mn * bsum by madds over pairs of sub-blocks; then
// y += dk (d_x isum) - dmin (d_x ibias), as dot_k_generic.
constexpr int kSub = 16, kSuper = 256, kSubs = kSuper / kSub;

struct KPanel {
  std::vector<uint8_t> q;     // [ns][kSubs][4 steps][kRows][4]
  std::vector<uint32_t> sc;   // [ns * kSubs][kRows], int16 scale in both halves
  std::vector<uint32_t> mn;   // [ns * kSubs / 2][kRows], int16 mins of sub-blocks 2j, 2j+1
  std::vector<float> dk, dmin;  // [ns][kRows]
  qdot::UnpackedRow rows[kRows];
};

void pack_panel_k(DType w, const uint8_t* row0, size_t stride, int64_t r0, int64_t nr, int64_t k,
                  KPanel* p) {
  const int64_t ns = k / kSuper;
  p->q.resize(size_t(k * kRows));
  p->sc.assign(size_t(ns * kSubs * kRows), 0);
  p->mn.assign(size_t(ns * kSubs / 2 * kRows), 0);
  p->dk.assign(size_t(ns * kRows), 0.0f);
  p->dmin.assign(size_t(ns * kRows), 0.0f);
  for (int r = 0; r < nr; ++r) qdot::unpack_weight_row(w, row0 + size_t(r0 + r) * stride, k, &p->rows[r]);
  interleave_quants(p->rows, nr, k, p->q.data());
  for (int r = 0; r < nr; ++r) {  // rows past the matrix keep zero scales
    const qdot::UnpackedRow& u = p->rows[r];
    for (int64_t g = 0; g < k / kSub; ++g) p->sc[size_t(g * kRows + r)] = u.sc[size_t(g)];
    for (int64_t j = 0; j < k / (2 * kSub); ++j)
      p->mn[size_t(j * kRows + r)] =
          uint32_t(uint16_t(u.mn[size_t(2 * j)])) | uint32_t(uint16_t(u.mn[size_t(2 * j + 1)])) << 16;
    for (int64_t s = 0; s < ns; ++s) {
      p->dk[size_t(s * kRows + r)] = u.dk[size_t(s)];
      p->dmin[size_t(s * kRows + r)] = u.dmin[size_t(s)];
    }
  }
}

template <int C, bool kSix>
void tile_k(const KPanel& p, int64_t ns, const qdot::QuantizedActs& a, int64_t t0, float* y,
            int64_t ldy, int64_t nr) {
  const int64_t k = a.k;
  __m256 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  const int8_t* xq[C];
  const float* xd[C];
  const int16_t* xb[C];
  for (int c = 0; c < C; ++c) {
    xq[c] = a.q.data() + (t0 + c) * k;
    xd[c] = a.d.data() + (t0 + c) * ns;
    xb[c] = a.bsum.data() + (t0 + c) * (k / kSub);
  }
  const uint8_t* pq = p.q.data();
  for (int64_t s = 0; s < ns; ++s) {
    __m256i isum[C];
    for (int c = 0; c < C; ++c) isum[c] = _mm256_setzero_si256();
    for (int sb = 0; sb < kSubs; ++sb) {
      const int64_t g = s * kSubs + sb;
      const __m256i scv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.sc.data() + g * kRows));
      constexpr int kParts = kSix ? 2 : 1, kN = 4 / kParts;
      for (int h = 0; h < kParts; ++h) {
        __m256i s16[C];
        for (int c = 0; c < C; ++c) s16[c] = _mm256_setzero_si256();
        for (int st = h * kN; st < (h + 1) * kN; ++st) {
          const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pq + st * 32));
          for (int c = 0; c < C; ++c) {
            int32_t x4;
            std::memcpy(&x4, xq[c] + g * kSub + 4 * st, 4);
            s16[c] = _mm256_add_epi16(s16[c], _mm256_maddubs_epi16(wv, _mm256_set1_epi32(x4)));
            asm("" : "+x"(s16[c]));  // no reassociation (see tile)
          }
        }
        for (int c = 0; c < C; ++c) isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(s16[c], scv));
      }
      pq += 4 * 32;
    }
    __m256i ib[C];
    for (int c = 0; c < C; ++c) ib[c] = _mm256_setzero_si256();
    for (int j = 0; j < kSubs / 2; ++j) {
      const __m256i mv = _mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(p.mn.data() + (s * kSubs / 2 + j) * kRows));
      for (int c = 0; c < C; ++c) {
        int32_t b2;
        std::memcpy(&b2, xb[c] + s * kSubs + 2 * j, 4);
        ib[c] = _mm256_add_epi32(ib[c], _mm256_madd_epi16(mv, _mm256_set1_epi32(b2)));
      }
    }
    const __m256 dk = _mm256_loadu_ps(p.dk.data() + s * kRows);
    const __m256 dm = _mm256_loadu_ps(p.dmin.data() + s * kRows);
    for (int c = 0; c < C; ++c) {
      const __m256 xs = _mm256_set1_ps(xd[c][s]);
      acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(isum[c]), xs), dk, acc[c]);
      acc[c] = _mm256_fnmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(ib[c]), xs), dm, acc[c]);
    }
  }
  for (int c = 0; c < C; ++c) store_row(acc[c], y + (t0 + c) * ldy, nr);
}

template <bool kSix>
void panel_k_all_tokens(const KPanel& p, int64_t ns, const qdot::QuantizedActs& a, float* y,
                        int64_t ldy, int64_t nr) {
  constexpr int kC = 4;  // 12 accumulators (s16, isum, acc) + weights, scales, x
  int64_t t = 0;
  for (; t + kC <= a.n; t += kC) tile_k<kC, kSix>(p, ns, a, t, y, ldy, nr);
  switch (a.n - t) {
    case 3: return tile_k<3, kSix>(p, ns, a, t, y, ldy, nr);
    case 2: return tile_k<2, kSix>(p, ns, a, t, y, ldy, nr);
    case 1: return tile_k<1, kSix>(p, ns, a, t, y, ldy, nr);
    default: return;
  }
}

[[maybe_unused]] bool is_k(DType w) {
  return w == DType::Q2_K || w == DType::Q3_K || w == DType::Q4_K || w == DType::Q5_K ||
         w == DType::Q6_K;
}

}  // namespace

bool int8_gemm_supported(DType w) { return is_legacy32(w) || is_k(w); }

// Runs fn(panel, r0, nr) for the 8-row panels of m rows, split over the pool, each thread
// packing into its own thread-local Panel type P.
template <class P, class Fn>
void for_panels(int64_t m, ThreadPool* pool, const Fn& fn) {
  const int64_t n_panels = (m + kRows - 1) / kRows;
  auto run = [&](int64_t p0, int64_t p1, int) {
    thread_local P panel;
    for (int64_t p = p0; p < p1; ++p) fn(panel, p * kRows, std::min<int64_t>(kRows, m - p * kRows));
  };
  if (pool) {
    pool->parallel_for(n_panels, run);
  } else {
    run(0, n_panels, 0);
  }
}

void gemm_q8_legacy(DType w, const uint8_t* row0, size_t stride, int64_t m,
                    const qdot::QuantizedActs& acts, float* y, int64_t ldy, ThreadPool* pool) {
  if (is_k(w)) {
    DSRT_CHECK(acts.fmt == qdot::ActFormat::Q8x256 && acts.k % kSuper == 0);
    const int64_t ns = acts.k / kSuper;
    const bool six = w == DType::Q6_K;
    for_panels<KPanel>(m, pool, [&](KPanel& panel, int64_t r0, int64_t nr) {
      pack_panel_k(w, row0, stride, r0, nr, acts.k, &panel);
      if (six) {
        panel_k_all_tokens<true>(panel, ns, acts, y + r0, ldy, nr);
      } else {
        panel_k_all_tokens<false>(panel, ns, acts, y + r0, ldy, nr);
      }
    });
    return;
  }
  DSRT_CHECK(is_legacy32(w) && acts.fmt == qdot::ActFormat::Q8x32 && acts.k % kQK == 0);
  const int64_t nb = acts.k / kQK;
  const bool half = w == DType::Q5_0 || w == DType::Q5_1;
  for_panels<Panel>(m, pool, [&](Panel& panel, int64_t r0, int64_t nr) {
    pack_panel(w, row0, stride, r0, nr, acts.k, &panel);
    if (half) {
      panel_all_tokens<true>(panel, nb, acts, y + r0, ldy, nr);
    } else {
      panel_all_tokens<false>(panel, nb, acts, y + r0, ldy, nr);
    }
  });
}

#else  // no AVX2: the float GEMM serves these types

bool int8_gemm_supported(DType) { return false; }

void gemm_q8_legacy(DType, const uint8_t*, size_t, int64_t, const qdot::QuantizedActs&, float*,
                    int64_t, ThreadPool*) {
  DSRT_CHECK_MSG(false, "the int8 GEMM needs an AVX2 build");
}

#endif

}  // namespace dsrt::gemm
