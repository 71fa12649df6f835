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
  for (int r = 0; r < kRows; ++r) {
    if (r < nr) qdot::unpack_weight_row(w, row0 + size_t(r0 + r) * stride, k, &p->rows[r]);
  }
  uint32_t* dst = reinterpret_cast<uint32_t*>(p->q.data());
  for (int64_t b = 0; b < nb; ++b) {
    for (int s = 0; s < kSteps; ++s)
      for (int r = 0; r < kRows; ++r) {
        uint32_t v = 0;  // rows past the matrix: zero quants, zero scales
        if (r < nr) std::memcpy(&v, p->rows[r].u.data() + b * kQK + 4 * s, 4);
        *dst++ = v;
      }
    for (int r = 0; r < nr; ++r) {
      p->d[size_t(b * kRows + r)] = p->rows[r].d[size_t(b)];
      p->m[size_t(b * kRows + r)] = p->rows[r].m[size_t(b)];
    }
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
  for (int c = 0; c < C; ++c) {
    float* out = y + (t0 + c) * ldy;
    if (nr == kRows) {
      _mm256_storeu_ps(out, acc[c]);
    } else {
      alignas(32) float tmp[kRows];
      _mm256_store_ps(tmp, acc[c]);
      std::copy_n(tmp, nr, out);
    }
  }
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

}  // namespace

bool int8_gemm_supported(DType w) { return is_legacy32(w); }

void gemm_q8_legacy(DType w, const uint8_t* row0, size_t stride, int64_t m,
                    const qdot::QuantizedActs& acts, float* y, int64_t ldy, ThreadPool* pool) {
  DSRT_CHECK(is_legacy32(w) && acts.fmt == qdot::ActFormat::Q8x32 && acts.k % kQK == 0);
  const int64_t nb = acts.k / kQK, n_panels = (m + kRows - 1) / kRows;
  const bool half = w == DType::Q5_0 || w == DType::Q5_1;
  auto run = [&](int64_t p0, int64_t p1, int) {
    thread_local Panel panel;
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t r0 = p * kRows, nr = std::min<int64_t>(kRows, m - r0);
      pack_panel(w, row0, stride, r0, nr, acts.k, &panel);
      if (half) {
        panel_all_tokens<true>(panel, nb, acts, y + r0, ldy, nr);
      } else {
        panel_all_tokens<false>(panel, nb, acts, y + r0, ldy, nr);
      }
    }
  };
  if (pool) {
    pool->parallel_for(n_panels, run);
  } else {
    run(0, n_panels, 0);
  }
}

#else  // no AVX2: the float GEMM serves these types

bool int8_gemm_supported(DType) { return false; }

void gemm_q8_legacy(DType, const uint8_t*, size_t, int64_t, const qdot::QuantizedActs&, float*,
                    int64_t, ThreadPool*) {
  DSRT_CHECK_MSG(false, "the int8 GEMM needs an AVX2 build");
}

#endif

}  // namespace dsrt::gemm
