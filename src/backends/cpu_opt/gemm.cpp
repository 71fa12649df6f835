#include "backends/cpu_opt/gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define DSRT_GEMM_AVX2 1
#endif

namespace dsrt::gemm {
namespace {

// y[r, 0..16) (+)= sum_c x[r, c] * panel[c, 0..16) for r < MR; panel is [kc][16].
// ncols < 16 stores only the first ncols columns (a partial last panel).
template <int MR>
void micro(const float* x, int64_t ldx, const float* panel, int64_t kc, float* y, int64_t ldy,
           int ncols, bool accumulate) {
#ifdef DSRT_GEMM_AVX2
  // Every loop over r is unrolled so the accumulators stay in registers (a runtime index
  // would put the array on the stack and store it back every column).
  __m256 acc[MR][2];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int64_t c = 0; c < kc; ++c) {
    const __m256 b0 = _mm256_loadu_ps(panel + c * kNr), b1 = _mm256_loadu_ps(panel + c * kNr + 8);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m256 a = _mm256_broadcast_ss(x + r * ldx + c);
      acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    float* yr = y + r * ldy;
    if (ncols == kNr) {
      if (accumulate) {
        acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_loadu_ps(yr));
        acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_loadu_ps(yr + 8));
      }
      _mm256_storeu_ps(yr, acc[r][0]);
      _mm256_storeu_ps(yr + 8, acc[r][1]);
    } else {
      alignas(32) float t[kNr];
      _mm256_store_ps(t, acc[r][0]);
      _mm256_store_ps(t + 8, acc[r][1]);
      for (int j = 0; j < ncols; ++j) yr[j] = accumulate ? yr[j] + t[j] : t[j];
    }
  }
#else
  float acc[MR][kNr] = {};
  for (int64_t c = 0; c < kc; ++c) {
    const float* b = panel + c * kNr;
    for (int r = 0; r < MR; ++r) {
      const float a = x[r * ldx + c];
      for (int j = 0; j < kNr; ++j) acc[r][j] += a * b[j];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < ncols; ++j) y[r * ldy + j] = accumulate ? y[r * ldy + j] + acc[r][j] : acc[r][j];
#endif
}

using MicroFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int, bool);
constexpr MicroFn kMicro[kMr + 1] = {nullptr, micro<1>, micro<2>, micro<3>, micro<4>, micro<5>, micro<6>};

}  // namespace

namespace {
// Panels [p0, p1) of y = x · Wᵀ; pack(j0, nc, packed) fills packed[c * kNr + r] = W[j0 + r, c]
// for r < nc and zero for the rest of a partial panel.
template <class Pack>
void gemm_panels(const float* x, int64_t ldx, int64_t n, int64_t k, int64_t m, const Pack& pack,
                 float* y, int64_t ldy, int64_t p0, int64_t p1, std::vector<float>& packed) {
  packed.resize(size_t(kNr * k));
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t j0 = p * kNr;
    const int nc = int(std::min<int64_t>(kNr, m - j0));
    pack(j0, nc, packed.data());
    for (int64_t c0 = 0; c0 < k; c0 += kKc) {
      const int64_t kc = std::min(kKc, k - c0);
      const float* panel = packed.data() + c0 * kNr;
      for (int64_t i = 0; i < n; i += kMr) {
        const int mr = int(std::min<int64_t>(kMr, n - i));
        kMicro[mr](x + i * ldx + c0, ldx, panel, kc, y + i * ldy + j0, ldy, nc, c0 > 0);
      }
    }
  }
}

// packed[c * 16 + r] = rows[r * k + c] for the 16 rows of a panel. AVX2: 8 x 8 blocks
// transposed in registers (unpack / shuffle / permute2f128), which keeps packing well below
// the micro-kernel's cost even for small batches (n = 16 decode steps).
void transpose_rows(const float* rows, int64_t k, float* packed) {
  int64_t c = 0;
#ifdef DSRT_GEMM_AVX2
  for (; c + 8 <= k; c += 8) {
    for (int h = 0; h < 2; ++h) {  // rows 0-7, then 8-15
      const float* src = rows + (8 * h) * k + c;
      __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + k);
      __m256 r2 = _mm256_loadu_ps(src + 2 * k), r3 = _mm256_loadu_ps(src + 3 * k);
      __m256 r4 = _mm256_loadu_ps(src + 4 * k), r5 = _mm256_loadu_ps(src + 5 * k);
      __m256 r6 = _mm256_loadu_ps(src + 6 * k), r7 = _mm256_loadu_ps(src + 7 * k);
      const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
      const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
      const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
      const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
      const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
      const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float* dst = packed + c * kNr + 8 * h;
      _mm256_storeu_ps(dst + 0 * kNr, _mm256_permute2f128_ps(u0, u4, 0x20));
      _mm256_storeu_ps(dst + 1 * kNr, _mm256_permute2f128_ps(u1, u5, 0x20));
      _mm256_storeu_ps(dst + 2 * kNr, _mm256_permute2f128_ps(u2, u6, 0x20));
      _mm256_storeu_ps(dst + 3 * kNr, _mm256_permute2f128_ps(u3, u7, 0x20));
      _mm256_storeu_ps(dst + 4 * kNr, _mm256_permute2f128_ps(u0, u4, 0x31));
      _mm256_storeu_ps(dst + 5 * kNr, _mm256_permute2f128_ps(u1, u5, 0x31));
      _mm256_storeu_ps(dst + 6 * kNr, _mm256_permute2f128_ps(u2, u6, 0x31));
      _mm256_storeu_ps(dst + 7 * kNr, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
  }
#endif
  for (; c < k; ++c)
    for (int r = 0; r < kNr; ++r) packed[c * kNr + r] = rows[r * k + c];
}

// Packs from decoded rows: decode the panel's rows, then transpose into 16-float groups.
struct RowPacker {
  const RowDecoder& decode;
  int64_t k;
  mutable std::vector<float> rows;
  void operator()(int64_t j0, int nc, float* packed) const {
    rows.resize(size_t(kNr * k));
    for (int r = 0; r < nc; ++r) decode(j0 + r, rows.data() + r * k);
    if (nc < kNr) std::fill(rows.begin() + int64_t(nc) * k, rows.end(), 0.0f);
    transpose_rows(rows.data(), k, packed);
  }
};

struct ColumnPacker {
  const ColumnDecoder& wt_row;
  int64_t k;
  void operator()(int64_t j0, int nc, float* pk) const {
    for (int64_t c = 0; c < k; ++c) {
      float* dst = pk + c * kNr;
      wt_row(c, j0, nc, dst);
      for (int r = nc; r < kNr; ++r) dst[r] = 0.0f;
    }
  }
};

// All panels of y = x · Wᵀ, over the pool or (pool = nullptr) on the calling thread.
template <class Pack>
void gemm_all(const float* x, int64_t ldx, int64_t n, int64_t k, int64_t m, const Pack& pack,
              float* y, int64_t ldy, ThreadPool* pool) {
  const int64_t n_panels = (m + kNr - 1) / kNr;
  auto run = [&](int64_t p0, int64_t p1, int) {
    const Pack local = pack;  // a packer may hold scratch: one copy per chunk
    std::vector<float> packed;
    gemm_panels(x, ldx, n, k, m, local, y, ldy, p0, p1, packed);
  };
  if (pool) {
    pool->parallel_for(n_panels, run);
  } else {
    run(0, n_panels, 0);
  }
}
}  // namespace

void gemm_f32(const float* x, int64_t ldx, int64_t n, int64_t k, int64_t m,
              const RowDecoder& decode, float* y, int64_t ldy, ThreadPool* pool) {
  gemm_all(x, ldx, n, k, m, RowPacker{decode, k, {}}, y, ldy, pool);
}

void gemm_f32_wt(const float* x, int64_t ldx, int64_t n, int64_t k, int64_t m,
                 const ColumnDecoder& wt_row, float* y, int64_t ldy, ThreadPool* pool) {
  gemm_all(x, ldx, n, k, m, ColumnPacker{wt_row, k}, y, ldy, pool);
}

namespace {

#ifdef DSRT_GEMM_AVX2
template <HalfKind K>
inline __m256 load_w8(const void* w, int64_t i) {
  if constexpr (K == HalfKind::F32) {
    return _mm256_loadu_ps(static_cast<const float*>(w) + i);
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i));
    if constexpr (K == HalfKind::F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}
inline float hsum8(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}
#endif

template <HalfKind K>
inline float load_w1(const void* w, int64_t i) {
  if constexpr (K == HalfKind::F32) return static_cast<const float*>(w)[i];
  const uint16_t h = static_cast<const uint16_t*>(w)[i];
  if constexpr (K == HalfKind::F16) return f16_to_f32(h);
  return bf16_to_f32(h);
}

// y[i, j] for tokens [0, NT) of x and weight rows w0 (and w1 when NR == 2).
template <HalfKind K, int NR, int NT>
void small_tile(const float* x, int64_t ldx, int64_t k, const void* w0, const void* w1,
                float* y, int64_t ldy) {
  int64_t c = 0;
  float tail[NR][NT] = {};
#ifdef DSRT_GEMM_AVX2
  __m256 acc[NR][NT];
#pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) {
    acc[0][t] = _mm256_setzero_ps();
    if constexpr (NR == 2) acc[1][t] = _mm256_setzero_ps();
  }
  // Software prefetch 2 KiB ahead in both weight rows, once per cache line. Two interleaved
  // row streams left the hardware prefetcher behind: on a weight streamed from DRAM (the
  // 49152 x 576 vocabulary projection) n = 4 took 5.2 -> 2.7-3.7 ms and n = 16 17 -> 10 ms
  // with it (2 threads; distances of 0.5 - 8 KiB measured, 2 - 4 KiB best).
  constexpr int kEsz = K == HalfKind::F32 ? 4 : 2;
  constexpr int64_t kLine = 64 / kEsz, kAhead = 2048;
  for (; c + 8 <= k; c += 8) {
    if ((c & (kLine - 1)) == 0) {
      _mm_prefetch(static_cast<const char*>(w0) + c * kEsz + kAhead, _MM_HINT_T0);
      if constexpr (NR == 2) _mm_prefetch(static_cast<const char*>(w1) + c * kEsz + kAhead, _MM_HINT_T0);
    }
    const __m256 a = load_w8<K>(w0, c);
    __m256 b;
    if constexpr (NR == 2) b = load_w8<K>(w1, c);
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) {
      __m256 xv = _mm256_loadu_ps(x + t * ldx + c);
      // One load per token for both rows: left to itself the compiler folds the load into
      // each row's FMA, which makes the loop load-bound (14 loads per 12 FMAs).
      if constexpr (NR == 2) asm("" : "+x"(xv));
      acc[0][t] = _mm256_fmadd_ps(a, xv, acc[0][t]);
      if constexpr (NR == 2) acc[1][t] = _mm256_fmadd_ps(b, xv, acc[1][t]);
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) {
    tail[0][t] = hsum8(acc[0][t]);
    if constexpr (NR == 2) tail[1][t] = hsum8(acc[1][t]);
  }
#endif
  for (; c < k; ++c) {
    const float a = load_w1<K>(w0, c), b = NR == 2 ? load_w1<K>(w1, c) : 0.0f;
    for (int t = 0; t < NT; ++t) {
      tail[0][t] += a * x[t * ldx + c];
      if constexpr (NR == 2) tail[1][t] += b * x[t * ldx + c];
    }
  }
  for (int t = 0; t < NT; ++t) {
    y[t * ldy] = tail[0][t];
    if constexpr (NR == 2) y[t * ldy + 1] = tail[1][t];
  }
}

template <HalfKind K, int NR>
void small_rows(const float* x, int64_t ldx, int64_t n, int64_t k, const void* w0, const void* w1,
                float* y, int64_t ldy) {
  int64_t i = 0;
  for (; i + 6 <= n; i += 6) small_tile<K, NR, 6>(x + i * ldx, ldx, k, w0, w1, y + i * ldy, ldy);
  switch (n - i) {
    case 5: return small_tile<K, NR, 5>(x + i * ldx, ldx, k, w0, w1, y + i * ldy, ldy);
    case 4: return small_tile<K, NR, 4>(x + i * ldx, ldx, k, w0, w1, y + i * ldy, ldy);
    case 3: return small_tile<K, NR, 3>(x + i * ldx, ldx, k, w0, w1, y + i * ldy, ldy);
    case 2: return small_tile<K, NR, 2>(x + i * ldx, ldx, k, w0, w1, y + i * ldy, ldy);
    case 1: return small_tile<K, NR, 1>(x + i * ldx, ldx, k, w0, w1, y + i * ldy, ldy);
    default: return;
  }
}

template <HalfKind K>
void small_all(const float* x, int64_t ldx, int64_t n, int64_t k, int64_t m, const void* w,
               int64_t ldw, float* y, int64_t ldy, ThreadPool& pool) {
  const size_t esz = K == HalfKind::F32 ? 4 : 2;
  const auto* wb = static_cast<const uint8_t*>(w);
  const int64_t pairs = (m + 1) / 2;
  pool.parallel_for(pairs, [&](int64_t p0, int64_t p1, int) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t j = 2 * p;
      const void* w0 = wb + size_t(j) * size_t(ldw) * esz;
      if (j + 1 < m) {
        small_rows<K, 2>(x, ldx, n, k, w0, wb + size_t(j + 1) * size_t(ldw) * esz, y + j, ldy);
      } else {
        small_rows<K, 1>(x, ldx, n, k, w0, nullptr, y + j, ldy);
      }
    }
  });
}

}  // namespace

void small_rows_f32(const float* x, int64_t ldx, int64_t n, int64_t k, const float* w0,
                    const float* w1, float* y, int64_t ldy) {
  if (w1) {
    small_rows<HalfKind::F32, 2>(x, ldx, n, k, w0, w1, y, ldy);
  } else {
    small_rows<HalfKind::F32, 1>(x, ldx, n, k, w0, nullptr, y, ldy);
  }
}

namespace {
template <int NH>
void pv_tile(const float* p, int64_t ldp, const float* const* rows, int64_t n, int64_t c0, float* o,
             int64_t ldo) {
#ifdef DSRT_GEMM_AVX2
  __m256 acc[NH][2];
#pragma GCC unroll 6
  for (int h = 0; h < NH; ++h) acc[h][0] = acc[h][1] = _mm256_setzero_ps();
  for (int64_t j = 0; j < n; ++j) {
    const __m256 v0 = _mm256_loadu_ps(rows[j] + c0), v1 = _mm256_loadu_ps(rows[j] + c0 + 8);
#pragma GCC unroll 6
    for (int h = 0; h < NH; ++h) {
      const __m256 pj = _mm256_broadcast_ss(p + h * ldp + j);
      acc[h][0] = _mm256_fmadd_ps(pj, v0, acc[h][0]);
      acc[h][1] = _mm256_fmadd_ps(pj, v1, acc[h][1]);
    }
  }
#pragma GCC unroll 6
  for (int h = 0; h < NH; ++h) {
    _mm256_storeu_ps(o + h * ldo, acc[h][0]);
    _mm256_storeu_ps(o + h * ldo + 8, acc[h][1]);
  }
#else
  float acc[NH][16] = {};
  for (int64_t j = 0; j < n; ++j)
    for (int h = 0; h < NH; ++h)
      for (int c = 0; c < 16; ++c) acc[h][c] += p[h * ldp + j] * rows[j][c0 + c];
  for (int h = 0; h < NH; ++h)
    for (int c = 0; c < 16; ++c) o[h * ldo + c] = acc[h][c];
#endif
}
}  // namespace

void pv_tile16(const float* p, int64_t ldp, int nh, const float* const* rows, int64_t n,
               int64_t c0, float* o, int64_t ldo) {
  switch (nh) {
    case 6: return pv_tile<6>(p, ldp, rows, n, c0, o, ldo);
    case 5: return pv_tile<5>(p, ldp, rows, n, c0, o, ldo);
    case 4: return pv_tile<4>(p, ldp, rows, n, c0, o, ldo);
    case 3: return pv_tile<3>(p, ldp, rows, n, c0, o, ldo);
    case 2: return pv_tile<2>(p, ldp, rows, n, c0, o, ldo);
    case 1: return pv_tile<1>(p, ldp, rows, n, c0, o, ldo);
    default: DSRT_CHECK(false);
  }
}

void gemm_small(const float* x, int64_t ldx, int64_t n, int64_t k, int64_t m, const void* w,
                int64_t ldw, HalfKind kind, float* y, int64_t ldy, ThreadPool& pool) {
  switch (kind) {
    case HalfKind::F32:
      return small_all<HalfKind::F32>(x, ldx, n, k, m, w, ldw, y, ldy, pool);
    case HalfKind::F16:
      return small_all<HalfKind::F16>(x, ldx, n, k, m, w, ldw, y, ldy, pool);
    case HalfKind::BF16:
      return small_all<HalfKind::BF16>(x, ldx, n, k, m, w, ldw, y, ldy, pool);
  }
}

}  // namespace dsrt::gemm
