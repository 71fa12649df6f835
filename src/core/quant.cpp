// Reference codecs for ggml's block formats. Layouts (byte offsets inside one block) follow
// ggml's block_* structs; fields are read with memcpy so a row may start at any address (a
// GGUF file may declare alignment 1). Multiplications are written in ggml's order so that
// dequantized values are bit-identical to ggml's (the build uses ISO C++, i.e.
// -ffp-contract=off, so no multiply-add is fused).
#include "core/quant.h"

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>

namespace dsrt {
namespace {

static_assert(std::endian::native == std::endian::little,
              "ggml block layouts are little-endian; a big-endian host needs byte swaps");

constexpr int kQK = 32;    // elements per block of the legacy types
constexpr int kQKK = 256;  // elements per super-block of the K types

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline float load_f16(const uint8_t* p) {
  return f16_to_f32(load_u16(p));
}
inline void store_u16(uint8_t* p, uint16_t v) {
  std::memcpy(p, &v, 2);
}
inline void store_u32(uint8_t* p, uint32_t v) {
  std::memcpy(p, &v, 4);
}
// Stores f as f16 and returns the value a decoder will read back.
inline float store_f16(uint8_t* p, float f) {
  const uint16_t h = f32_to_f16(f);
  store_u16(p, h);
  return f16_to_f32(h);
}

// Round to nearest, ties to even (ggml's nearest_int), for |x| well inside int range.
inline int nearest_int(float x) {
  return int(std::nearbyint(x));
}
inline int clampi(int v, int lo, int hi) {
  return std::min(hi, std::max(lo, v));
}

// The element of largest magnitude, with its sign (the first one on ties, as ggml).
inline float signed_absmax(const float* x, int n) {
  float amax = 0, maxv = 0;
  for (int j = 0; j < n; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      maxv = x[j];
    }
  }
  return maxv;
}

// ---- 6-bit scale/min packing of Q4_K and Q5_K (12 bytes for 8 scales and 8 mins) ----
// Sub-blocks 0-3 keep scale and min in the low 6 bits of bytes j and j+4; sub-blocks 4-7 keep
// their low 4 bits in the nibbles of byte j+4 and their top 2 bits in bits 6-7 of bytes j-4
// (scale) and j (min).
inline void unpack_scale_min_k4(const uint8_t* q, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}
void pack_scale_min_k4(const int* sc, const int* m, uint8_t* q) {
  std::memset(q, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      q[j] |= uint8_t(sc[j]);
      q[j + 4] |= uint8_t(m[j]);
    } else {
      q[j + 4] |= uint8_t((sc[j] & 0xf) | ((m[j] & 0xf) << 4));
      q[j - 4] |= uint8_t((sc[j] >> 4) << 6);
      q[j] |= uint8_t((m[j] >> 4) << 6);
    }
  }
}

// ---- 6-bit signed scales of Q3_K (12 bytes for 16 scales, stored biased by 32) ----
// Low 4 bits: scales 0-7 in the low nibbles of bytes 0-7, scales 8-15 in the high nibbles;
// top 2 bits of scale j: bits 2*(j/4) of byte 8 + j%4.
inline int unpack_scale_q3k(const uint8_t* s, int j) {
  const int low = j < 8 ? (s[j] & 0xf) : (s[j - 8] >> 4);
  const int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}
void pack_scales_q3k(const int* sc, uint8_t* s) {
  std::memset(s, 0, 12);
  for (int j = 0; j < 16; ++j) {
    const int b = sc[j] + 32;  // 0..63
    if (j < 8) {
      s[j] |= uint8_t(b & 0xf);
    } else {
      s[j - 8] |= uint8_t((b & 0xf) << 4);
    }
    s[8 + j % 4] |= uint8_t((b >> 4) << (2 * (j / 4)));
  }
}

// ---------------------------------------------------------------------------------------------
// Dequantizers, one block at a time. x points at the block, y at its first output.

void deq_q4_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = float((qs[j] & 0xf) - 8) * d;
    y[j + 16] = float((qs[j] >> 4) - 8) * d;
  }
}
void deq_q4_1(const uint8_t* b, float* y) {
  const float d = load_f16(b), m = load_f16(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = float(qs[j] & 0xf) * d + m;
    y[j + 16] = float(qs[j] >> 4) * d + m;
  }
}
// Q5_x: low nibbles as Q4_x; bit j of the 32-bit qh is the fifth bit of element j.
void deq_q5_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const uint32_t qh = load_u32(b + 2);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < 16; ++j) {
    const int q0 = (qs[j] & 0xf) | int(((qh >> j) & 1) << 4);
    const int q1 = (qs[j] >> 4) | int(((qh >> (j + 16)) & 1) << 4);
    y[j] = float(q0 - 16) * d;
    y[j + 16] = float(q1 - 16) * d;
  }
}
void deq_q5_1(const uint8_t* b, float* y) {
  const float d = load_f16(b), m = load_f16(b + 2);
  const uint32_t qh = load_u32(b + 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < 16; ++j) {
    const int q0 = (qs[j] & 0xf) | int(((qh >> j) & 1) << 4);
    const int q1 = (qs[j] >> 4) | int(((qh >> (j + 16)) & 1) << 4);
    y[j] = float(q0) * d + m;
    y[j + 16] = float(q1) * d + m;
  }
}
void deq_q8_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < kQK; ++j) y[j] = float(qs[j]) * d;
}
void deq_q8_1(const uint8_t* b, float* y) {  // the sum field (b + 2) is for dot products only
  const float d = load_f16(b);
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 4);
  for (int j = 0; j < kQK; ++j) y[j] = float(qs[j]) * d;
}

// K types. Element e of a super-block: sub-block e/16 (or e/32); the bit-plane position of
// its quant bits is described next to each decoder.

// Q2_K: scales[16] (low nibble scale, high nibble min) @0, qs[64] @16, d @80, dmin @82.
// Element e: qs byte 32*(e/128) + e%32, bits 2*((e%128)/32).
void deq_q2_k(const uint8_t* b, float* y) {
  const uint8_t* sc = b;
  const uint8_t* qs = b + 16;
  const float d = load_f16(b + 80), dmin = load_f16(b + 82);
  for (int e = 0; e < kQKK; ++e) {
    const int s = sc[e / 16];
    const float dl = d * float(s & 0xf), ml = dmin * float(s >> 4);
    const int q = (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    y[e] = dl * float(q) - ml;
  }
}
// Q3_K: hmask[32] @0, qs[64] @32, scales[12] @96, d @108. Element e: low 2 bits as Q2_K; the
// third bit is bit e/32 of hmask[e%32], and a clear bit means "subtract 4" (q in [-4, 3]).
void deq_q3_k(const uint8_t* b, float* y) {
  const uint8_t* hm = b;
  const uint8_t* qs = b + 32;
  const uint8_t* scales = b + 96;
  const float d = load_f16(b + 108);
  for (int e = 0; e < kQKK; ++e) {
    const float dl = d * float(unpack_scale_q3k(scales, e / 16));
    const int low = (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    const int q = low - (((hm[e % 32] >> (e / 32)) & 1) ? 0 : 4);
    y[e] = dl * float(q);
  }
}
// Q4_K: d @0, dmin @2, scales[12] @4, qs[128] @16. Element e: sub-block e/32; qs byte
// 32*(e/64) + e%32, low nibble for the first 32 of each 64, high nibble for the second.
void deq_q4_k(const uint8_t* b, float* y) {
  const float d = load_f16(b), dmin = load_f16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qs = b + 16;
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    unpack_scale_min_k4(scales, j, &sc, &m);
    const float d1 = d * float(sc), m1 = dmin * float(m);
    for (int l = 0; l < 32; ++l) {
      const uint8_t byte = qs[32 * (j / 2) + l];
      const int q = (j & 1) ? (byte >> 4) : (byte & 0xf);
      y[32 * j + l] = d1 * float(q) - m1;
    }
  }
}
// Q5_K: d @0, dmin @2, scales[12] @4, qh[32] @16, qs[128] @48. As Q4_K plus a fifth bit:
// bit e/32 of qh[e%32].
void deq_q5_k(const uint8_t* b, float* y) {
  const float d = load_f16(b), dmin = load_f16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48;
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    unpack_scale_min_k4(scales, j, &sc, &m);
    const float d1 = d * float(sc), m1 = dmin * float(m);
    for (int l = 0; l < 32; ++l) {
      const uint8_t byte = qs[32 * (j / 2) + l];
      const int q = ((j & 1) ? (byte >> 4) : (byte & 0xf)) | (((qh[l] >> j) & 1) << 4);
      y[32 * j + l] = d1 * float(q) - m1;
    }
  }
}
// Q6_K: ql[128] @0, qh[64] @128, int8 scales[16] @192, d @208. Element e = 128 h + 32 g + l:
// low 4 bits in ql[64 h + 32 (g & 1) + l] (high nibble when g >= 2), top 2 bits in bits 2g of
// qh[32 h + l]; q in [-32, 31].
void deq_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = load_f16(b + 208);
  for (int e = 0; e < kQKK; ++e) {
    const int h = e / 128, g = (e % 128) / 32, l = e % 32;
    const uint8_t lb = ql[64 * h + 32 * (g & 1) + l];
    const int low = g >= 2 ? (lb >> 4) : (lb & 0xf);
    const int high = (qh[32 * h + l] >> (2 * g)) & 3;
    y[e] = d * float(sc[e / 16]) * float((low | (high << 4)) - 32);
  }
}
// Q8_K: float d @0, int8 qs[256] @4, int16 bsums[16] @260 (sums of 16 quants, for dots).
void deq_q8_k(const uint8_t* b, float* y) {
  float d;
  std::memcpy(&d, b, 4);
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 4);
  for (int e = 0; e < kQKK; ++e) y[e] = d * float(qs[e]);
}

// ---------------------------------------------------------------------------------------------
// Legacy quantizers: the same arithmetic as ggml's quantize_row_*_ref so the bits match.

void q_q4_0(const float* x, uint8_t* b) {
  const float maxv = signed_absmax(x, kQK);
  const float d = maxv / -8;  // the largest-magnitude element lands on code 0 (level -8)
  const float id = d != 0 ? 1.0f / d : 0.0f;
  store_f16(b, d);
  for (int j = 0; j < 16; ++j) {
    const int q0 = std::min(15, std::max(0, int(x[j] * id + 8.5f)));
    const int q1 = std::min(15, std::max(0, int(x[j + 16] * id + 8.5f)));
    b[2 + j] = uint8_t(q0 | (q1 << 4));
  }
}
void q_q4_1(const float* x, uint8_t* b) {
  float lo = FLT_MAX, hi = -FLT_MAX;
  for (int j = 0; j < kQK; ++j) {
    lo = std::min(lo, x[j]);
    hi = std::max(hi, x[j]);
  }
  const float d = (hi - lo) / 15;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  store_f16(b, d);
  store_f16(b + 2, lo);
  for (int j = 0; j < 16; ++j) {
    const int q0 = std::min(15, std::max(0, int((x[j] - lo) * id + 0.5f)));
    const int q1 = std::min(15, std::max(0, int((x[j + 16] - lo) * id + 0.5f)));
    b[4 + j] = uint8_t(q0 | (q1 << 4));
  }
}
void q_q5_0(const float* x, uint8_t* b) {
  const float maxv = signed_absmax(x, kQK);
  const float d = maxv / -16;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  store_f16(b, d);
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    const int q0 = std::min(31, std::max(0, int(x[j] * id + 16.5f)));
    const int q1 = std::min(31, std::max(0, int(x[j + 16] * id + 16.5f)));
    b[6 + j] = uint8_t((q0 & 0xf) | ((q1 & 0xf) << 4));
    qh |= uint32_t(q0 >> 4) << j;
    qh |= uint32_t(q1 >> 4) << (j + 16);
  }
  store_u32(b + 2, qh);
}
void q_q5_1(const float* x, uint8_t* b) {
  float lo = FLT_MAX, hi = -FLT_MAX;
  for (int j = 0; j < kQK; ++j) {
    lo = std::min(lo, x[j]);
    hi = std::max(hi, x[j]);
  }
  const float d = (hi - lo) / 31;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  store_f16(b, d);
  store_f16(b + 2, lo);
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    const int q0 = std::min(31, std::max(0, int((x[j] - lo) * id + 0.5f)));
    const int q1 = std::min(31, std::max(0, int((x[j + 16] - lo) * id + 0.5f)));
    b[8 + j] = uint8_t((q0 & 0xf) | ((q1 & 0xf) << 4));
    qh |= uint32_t(q0 >> 4) << j;
    qh |= uint32_t(q1 >> 4) << (j + 16);
  }
  store_u32(b + 4, qh);
}
void q_q8_0(const float* x, uint8_t* b) {
  float amax = 0;
  for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  store_f16(b, d);
  for (int j = 0; j < kQK; ++j) b[2 + j] = uint8_t(int8_t(std::round(x[j] * id)));
}
// Q8_K keeps a float scale; the largest-magnitude element maps to -127 (ggml chose -127 over
// -128 so that SIMD sign tricks never see -128).
void q_q8_k(const float* x, uint8_t* b) {
  const float maxv = signed_absmax(x, kQKK);
  int8_t* qs = reinterpret_cast<int8_t*>(b + 4);
  float d = 0;
  if (maxv == 0) {
    std::memset(qs, 0, kQKK);
  } else {
    const float iscale = -127.f / maxv;
    for (int e = 0; e < kQKK; ++e) qs[e] = int8_t(std::min(127, nearest_int(iscale * x[e])));
    d = 1 / iscale;
  }
  std::memcpy(b, &d, 4);
  for (int j = 0; j < 16; ++j) {
    int sum = 0;
    for (int l = 0; l < 16; ++l) sum += qs[16 * j + l];
    store_u16(b + 260 + 2 * j, uint16_t(int16_t(sum)));
  }
}

// ---------------------------------------------------------------------------------------------
// K-type scale search (ours). Each sub-block gets the scale (and min) that minimizes the
// squared error over a small grid of candidate scales around the min/max one, each candidate
// refined by a least-squares solve for its rounding; then the sub-block scales are quantized
// against the super-block scale, and the elements are rounded to the nearest level of the
// *decoded* scales, so every element ends at its nearest representable value.

constexpr int kSearchSteps = 10;  // candidates nmax + k/10 for k in [-10, 10]
constexpr float kSearchDelta = 0.1f;

struct ScaleMin {
  float scale = 0;  // >= 0
  float min = 0;    // >= 0: the value is scale * q - min
};

// Fits x ~ s * q - m, q integer in [0, nmax], s >= 0, m >= 0 (m >= 0 because the K types
// store an unsigned min; so 0 is always inside the sub-block's range).
ScaleMin fit_scale_min(const float* x, int n, int nmax) {
  float lo = 0, hi = -FLT_MAX;
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (hi <= lo) return {0, -lo};
  ScaleMin best{(hi - lo) / float(nmax), -lo};
  double best_err = INFINITY;
  int q[32];
  for (int k = -kSearchSteps; k <= kSearchSteps; ++k) {
    float s = (hi - lo) / (float(nmax) + kSearchDelta * float(k));
    float b = lo;  // value = s * q + b, b <= 0
    for (int round = 0; round < 3; ++round) {
      const float inv = 1.0f / s;
      double sq = 0, sqq = 0, sx = 0, sxq = 0;
      for (int i = 0; i < n; ++i) {
        q[i] = clampi(nearest_int((x[i] - b) * inv), 0, nmax);
        sq += q[i];
        sqq += double(q[i]) * q[i];
        sx += x[i];
        sxq += double(x[i]) * q[i];
      }
      // Least squares for (s, b) given q; if that wants b > 0, fix b = 0 and refit s.
      const double det = n * sqq - sq * sq;
      double ns, nb;
      if (det > 0) {
        ns = (n * sxq - sq * sx) / det;
        nb = (sqq * sx - sq * sxq) / det;
      } else {
        break;
      }
      if (nb > 0) {
        nb = 0;
        ns = sqq > 0 ? sxq / sqq : 0;
      }
      if (!(ns > 0)) break;
      s = float(ns);
      b = float(nb);
    }
    double err = 0;
    const float inv = 1.0f / s;
    for (int i = 0; i < n; ++i) {
      const int qi = clampi(nearest_int((x[i] - b) * inv), 0, nmax);
      const double diff = double(s) * qi + b - x[i];
      err += diff * diff;
    }
    if (err < best_err) {
      best_err = err;
      best = {s, -b};
    }
  }
  return best;
}

// Fits x ~ s * q, q integer in [-nneg, npos]; s may be negative (the K types store signed
// scales, which lets the largest-magnitude element use the wider negative side).
float fit_scale_sym(const float* x, int n, int nneg, int npos) {
  const float maxv = signed_absmax(x, n);
  if (maxv == 0) return 0;
  float best = maxv / -float(nneg);
  double best_score = -1;  // (sum xq)^2 / sum qq: larger means smaller squared error
  for (int side = 0; side < 2; ++side) {
    for (int k = -kSearchSteps; k <= kSearchSteps; ++k) {
      // Map maxv to about level -nneg (side 0) or +npos (side 1).
      const float target =
          side == 0 ? -(float(nneg) + kSearchDelta * k) : (float(npos) + kSearchDelta * k);
      if (target == 0) continue;
      float inv = target / maxv;
      for (int round = 0; round < 2; ++round) {
        double sxq = 0, sqq = 0;
        for (int i = 0; i < n; ++i) {
          const int qi = clampi(nearest_int(x[i] * inv), -nneg, npos);
          sxq += double(x[i]) * qi;
          sqq += double(qi) * qi;
        }
        if (sqq == 0) break;
        const double score = sxq * sxq / sqq;
        const float s = float(sxq / sqq);
        if (score > best_score && s != 0) {
          best_score = score;
          best = s;
        }
        if (s == 0) break;
        inv = 1.0f / s;
      }
    }
  }
  return best;
}

// Shared by Q2_K, Q4_K, Q5_K: fits n_sub sub-blocks of sub elements, quantizes their scales
// and mins to [0, smax] against f16 super-scales d and dmin (stored at pd, pdmin), and returns
// the integer scales/mins and the final quants (q in [0, nmax]).
void quantize_k_asym(const float* x, int n_sub, int sub, int nmax, int smax, uint8_t* pd,
                     uint8_t* pdmin, int* sc, int* mn, uint8_t* q) {
  ScaleMin fit[16];
  float max_s = 0, max_m = 0;
  for (int j = 0; j < n_sub; ++j) {
    fit[j] = fit_scale_min(x + j * sub, sub, nmax);
    max_s = std::max(max_s, fit[j].scale);
    max_m = std::max(max_m, fit[j].min);
  }
  const float d = store_f16(pd, max_s / float(smax));
  const float dmin = store_f16(pdmin, max_m / float(smax));
  for (int j = 0; j < n_sub; ++j) {
    sc[j] = d > 0 ? clampi(nearest_int(fit[j].scale / d), 0, smax) : 0;
    mn[j] = dmin > 0 ? clampi(nearest_int(fit[j].min / dmin), 0, smax) : 0;
    // The decoder's own arithmetic, so the rounding below targets its exact levels.
    const float s = d * float(sc[j]), m = dmin * float(mn[j]);
    for (int l = 0; l < sub; ++l) {
      const int i = j * sub + l;
      q[i] = uint8_t(s > 0 ? clampi(nearest_int((x[i] + m) / s), 0, nmax) : 0);
    }
  }
}

// Shared by Q3_K and Q6_K: 16 sub-blocks of 16, symmetric quants in [-nneg, npos], signed
// sub-scales in [-sneg, spos] against the f16 super-scale at pd.
void quantize_k_sym(const float* x, int nneg, int npos, int sneg, int spos, uint8_t* pd, int* sc,
                    int* q) {
  float s[16];
  for (int j = 0; j < 16; ++j) s[j] = fit_scale_sym(x + 16 * j, 16, nneg, npos);
  const float smaxv = signed_absmax(s, 16);
  const float d = store_f16(pd, smaxv != 0 ? smaxv / -float(sneg) : 0.0f);
  for (int j = 0; j < 16; ++j) {
    sc[j] = d != 0 ? clampi(nearest_int(s[j] / d), -sneg, spos) : 0;
    const float dl = d * float(sc[j]);
    for (int l = 0; l < 16; ++l) {
      const int i = 16 * j + l;
      q[i] = dl != 0 ? clampi(nearest_int(x[i] / dl), -nneg, npos) : 0;
    }
  }
}

void q_q2_k(const float* x, uint8_t* b) {
  int sc[16], mn[16];
  uint8_t q[kQKK];
  quantize_k_asym(x, 16, 16, 3, 15, b + 80, b + 82, sc, mn, q);
  for (int j = 0; j < 16; ++j) b[j] = uint8_t(sc[j] | (mn[j] << 4));
  uint8_t* qs = b + 16;
  std::memset(qs, 0, 64);
  for (int e = 0; e < kQKK; ++e)
    qs[32 * (e / 128) + e % 32] |= uint8_t(q[e] << (2 * ((e % 128) / 32)));
}
void q_q3_k(const float* x, uint8_t* b) {
  int sc[16], q[kQKK];
  quantize_k_sym(x, 4, 3, 32, 31, b + 108, sc, q);
  uint8_t* hm = b;
  uint8_t* qs = b + 32;
  std::memset(b, 0, 96);
  for (int e = 0; e < kQKK; ++e) {
    const int u = q[e] + 4;  // 0..7
    qs[32 * (e / 128) + e % 32] |= uint8_t((u & 3) << (2 * ((e % 128) / 32)));
    if (u & 4) hm[e % 32] |= uint8_t(1 << (e / 32));
  }
  pack_scales_q3k(sc, b + 96);
}
void q_q4_k(const float* x, uint8_t* b) {
  int sc[8], mn[8];
  uint8_t q[kQKK];
  quantize_k_asym(x, 8, 32, 15, 63, b, b + 2, sc, mn, q);
  pack_scale_min_k4(sc, mn, b + 4);
  uint8_t* qs = b + 16;
  for (int j = 0; j < 8; j += 2)
    for (int l = 0; l < 32; ++l)
      qs[16 * j + l] = uint8_t(q[32 * j + l] | (q[32 * (j + 1) + l] << 4));
}
void q_q5_k(const float* x, uint8_t* b) {
  int sc[8], mn[8];
  uint8_t q[kQKK];
  quantize_k_asym(x, 8, 32, 31, 63, b, b + 2, sc, mn, q);
  pack_scale_min_k4(sc, mn, b + 4);
  uint8_t* qh = b + 16;
  uint8_t* qs = b + 48;
  std::memset(qh, 0, 32);
  for (int j = 0; j < 8; j += 2)
    for (int l = 0; l < 32; ++l)
      qs[16 * j + l] = uint8_t((q[32 * j + l] & 0xf) | ((q[32 * (j + 1) + l] & 0xf) << 4));
  for (int e = 0; e < kQKK; ++e) qh[e % 32] |= uint8_t((q[e] >> 4) << (e / 32));
}
void q_q6_k(const float* x, uint8_t* b) {
  int sc[16], q[kQKK];
  quantize_k_sym(x, 32, 31, 128, 127, b + 208, sc, q);
  uint8_t* ql = b;
  uint8_t* qh = b + 128;
  std::memset(b, 0, 192);
  for (int e = 0; e < kQKK; ++e) {
    const int h = e / 128, g = (e % 128) / 32, l = e % 32;
    const int u = q[e] + 32;  // 0..63
    ql[64 * h + 32 * (g & 1) + l] |= uint8_t((u & 0xf) << (g >= 2 ? 4 : 0));
    qh[32 * h + l] |= uint8_t((u >> 4) << (2 * g));
  }
  for (int j = 0; j < 16; ++j) b[192 + j] = uint8_t(int8_t(sc[j]));
}

using BlockDecoder = void (*)(const uint8_t*, float*);
using BlockEncoder = void (*)(const float*, uint8_t*);

BlockDecoder block_decoder(DType t) {
  switch (t) {
    case DType::Q4_0:
      return deq_q4_0;
    case DType::Q4_1:
      return deq_q4_1;
    case DType::Q5_0:
      return deq_q5_0;
    case DType::Q5_1:
      return deq_q5_1;
    case DType::Q8_0:
      return deq_q8_0;
    case DType::Q8_1:
      return deq_q8_1;
    case DType::Q2_K:
      return deq_q2_k;
    case DType::Q3_K:
      return deq_q3_k;
    case DType::Q4_K:
      return deq_q4_k;
    case DType::Q5_K:
      return deq_q5_k;
    case DType::Q6_K:
      return deq_q6_k;
    case DType::Q8_K:
      return deq_q8_k;
    default:
      return nullptr;
  }
}

BlockEncoder block_encoder(DType t) {
  switch (t) {
    case DType::Q4_0:
      return q_q4_0;
    case DType::Q4_1:
      return q_q4_1;
    case DType::Q5_0:
      return q_q5_0;
    case DType::Q5_1:
      return q_q5_1;
    case DType::Q8_0:
      return q_q8_0;
    case DType::Q2_K:
      return q_q2_k;
    case DType::Q3_K:
      return q_q3_k;
    case DType::Q4_K:
      return q_q4_k;
    case DType::Q5_K:
      return q_q5_k;
    case DType::Q6_K:
      return q_q6_k;
    case DType::Q8_K:
      return q_q8_k;
    default:
      return nullptr;
  }
}

bool is_plain_float(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16;
}

void check_row(const char* what, DType t, int64_t n) {
  DSRT_CHECK_MSG(n >= 0 && n % dtype_info(t).block_size == 0,
                 std::string(what) + ": " + std::to_string(n) + " elements is not a multiple of " +
                     std::string(dtype_name(t)) + "'s block size");
}

}  // namespace

bool quant_can_dequantize(DType t) {
  return is_plain_float(t) || block_decoder(t) != nullptr;
}
bool quant_can_quantize(DType t) {
  return is_plain_float(t) || block_encoder(t) != nullptr;
}

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  DSRT_CHECK_MSG(quant_can_dequantize(t),
                 "dequantize_row: unsupported type " + std::string(dtype_name(t)));
  check_row("dequantize_row", t, n);
  const uint8_t* s = static_cast<const uint8_t*>(src);
  switch (t) {
    case DType::F32:
      std::memcpy(dst, s, size_t(n) * 4);
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load_u16(s + 2 * i));
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_u16(s + 2 * i));
      return;
    default:
      break;
  }
  const DTypeInfo& info = dtype_info(t);
  const BlockDecoder dec = block_decoder(t);
  for (int64_t i = 0; i < n / info.block_size; ++i)
    dec(s + i * info.block_bytes, dst + i * info.block_size);
}

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  DSRT_CHECK_MSG(quant_can_quantize(t),
                 "quantize_row: unsupported type " + std::string(dtype_name(t)));
  check_row("quantize_row", t, n);
  uint8_t* d = static_cast<uint8_t*>(dst);
  switch (t) {
    case DType::F32:
      std::memcpy(d, src, size_t(n) * 4);
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) store_u16(d + 2 * i, f32_to_f16(src[i]));
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) store_u16(d + 2 * i, f32_to_bf16(src[i]));
      return;
    default:
      break;
  }
  const DTypeInfo& info = dtype_info(t);
  const BlockEncoder enc = block_encoder(t);
  for (int64_t i = 0; i < n / info.block_size; ++i)
    enc(src + i * info.block_size, d + i * info.block_bytes);
}

float vec_dot_ref(DType wtype, const void* wrow, const float* x, int64_t n) {
  DSRT_CHECK_MSG(quant_can_dequantize(wtype),
                 "vec_dot_ref: unsupported type " + std::string(dtype_name(wtype)));
  check_row("vec_dot_ref", wtype, n);
  const DTypeInfo& info = dtype_info(wtype);
  // Decode a chunk of whole blocks at a time (256 covers one block of every type).
  const int64_t chunk = info.block_size == 1 ? kQKK : info.block_size;
  float w[kQKK];
  float sum = 0;
  const uint8_t* p = static_cast<const uint8_t*>(wrow);
  for (int64_t i0 = 0; i0 < n; i0 += chunk) {
    const int64_t m = std::min(chunk, n - i0);
    dequantize_row(wtype, p + (i0 / info.block_size) * info.block_bytes, w, m);
    for (int64_t i = 0; i < m; ++i) sum += w[i] * x[i0 + i];
  }
  return sum;
}

}  // namespace dsrt
