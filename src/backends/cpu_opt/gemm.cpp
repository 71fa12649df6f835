#include "backends/cpu_opt/gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

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

// Packs from decoded rows: decode the panel's rows, then transpose into 16-float groups.
struct RowPacker {
  const RowDecoder& decode;
  int64_t k;
  mutable std::vector<float> rows;
  void operator()(int64_t j0, int nc, float* packed) const {
    rows.resize(size_t(kNr * k));
    for (int r = 0; r < nc; ++r) decode(j0 + r, rows.data() + r * k);
    if (nc < kNr) std::fill(rows.begin() + int64_t(nc) * k, rows.end(), 0.0f);
    for (int64_t c = 0; c < k; ++c)
      for (int r = 0; r < kNr; ++r) packed[c * kNr + r] = rows[size_t(r * k + c)];
  }
};

}  // namespace

void gemm_f32(const float* x, int64_t ldx, int64_t n, int64_t k, int64_t m,
              const RowDecoder& decode, float* y, int64_t ldy, ThreadPool& pool) {
  const int64_t n_panels = (m + kNr - 1) / kNr;
  pool.parallel_for(n_panels, [&](int64_t p0, int64_t p1, int) {
    std::vector<float> packed;
    gemm_panels(x, ldx, n, k, m, RowPacker{decode, k, {}}, y, ldy, p0, p1, packed);
  });
}

void gemm_f32_serial(const float* x, int64_t ldx, int64_t n, int64_t k, int64_t m,
                     const RowDecoder& decode, float* y, int64_t ldy) {
  std::vector<float> packed;
  gemm_panels(x, ldx, n, k, m, RowPacker{decode, k, {}}, y, ldy, 0, (m + kNr - 1) / kNr, packed);
}

void gemm_f32_serial_wt(const float* x, int64_t ldx, int64_t n, int64_t k, int64_t m,
                        const ColumnDecoder& wt_row, float* y, int64_t ldy) {
  std::vector<float> packed;
  auto pack = [&](int64_t j0, int nc, float* pk) {
    for (int64_t c = 0; c < k; ++c) {
      float* dst = pk + c * kNr;
      wt_row(c, j0, nc, dst);
      for (int r = nc; r < kNr; ++r) dst[r] = 0.0f;
    }
  };
  gemm_panels(x, ldx, n, k, m, pack, y, ldy, 0, (m + kNr - 1) / kNr, packed);
}

}  // namespace dsrt::gemm
