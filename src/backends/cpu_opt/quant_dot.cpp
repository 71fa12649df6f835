// Integer dot products for block-quantized weights; see quant_dot.h for the scheme. Block
// layouts (byte offsets inside a block) are those of ggml's block_* structs, documented beside
// the reference decoders in core/quant.cpp, which these kernels are tested against.
#include "backends/cpu_opt/quant_dot.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/status.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define DSRT_QDOT_AVX2 1
#endif

namespace dsrt::qdot {
namespace {

constexpr int64_t kQK = 32;    // legacy block
constexpr int64_t kQKK = 256;  // K super-block

#if defined(DSRT_QDOT_AVX2)
// The largest of 8 floats.
inline float hmax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}
#endif

inline float load_half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
#if defined(DSRT_QDOT_AVX2)
  return _cvtsh_ss(h);
#elif defined(__aarch64__)
  __fp16 v;
  std::memcpy(&v, &h, 2);
  return float(v);
#else
  return f16_to_f32(h);
#endif
}
inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
// Both int16 halves hold s, so a 32-bit lane broadcast gives 16-bit lanes of s (AVX2 madd).
inline uint32_t dup16(int s) {
  const uint32_t h = uint16_t(int16_t(s));
  return h | (h << 16);
}

// Round to nearest even by the 1.5 * 2^23 trick: exact for |v| < 2^22, identical to
// nearbyint in the default rounding mode, and (unlike a libm call) vectorizable.
inline int round_even(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return int((v + kMagic) - kMagic);
}

// ---- activation quantization ----

// 32-element blocks with a float scale d = amax / 127 (ggml's Q8_0 rounds d to f16; keeping
// it in float removes that error term) and q = round(x / d), so |x - d q| <= d / 2.
void quantize_row_q8x32(const float* x, int64_t k, int8_t* q, float* d, float* dsum) {
#if defined(DSRT_QDOT_AVX2)
  // The same arithmetic 8 lanes at a time (max is exact in any order; _mm256_round_ps to
  // nearest is round_even here, |x / d| <= 127): bit-identical to the loop below. The scalar
  // amax loop was 4% of a Q4_0 prefill once its GEMM went integer.
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < k / kQK; ++b) {
    const float* xb = x + b * kQK;
    __m256 v[4];
    __m256 mx = _mm256_setzero_ps();
    for (int j = 0; j < 4; ++j) {
      v[j] = _mm256_loadu_ps(xb + 8 * j);
      mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, v[j]));
    }
    const float amax = hmax8(mx);
    const float db = amax / 127;
    const float id = db != 0 ? 1.0f / db : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i iv[4];
    for (int j = 0; j < 4; ++j)
      iv[j] = _mm256_cvtps_epi32(
          _mm256_round_ps(_mm256_mul_ps(v[j], vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m256i s = _mm256_add_epi32(_mm256_add_epi32(iv[0], iv[1]), _mm256_add_epi32(iv[2], iv[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    const __m256i p16a = _mm256_packs_epi32(iv[0], iv[1]), p16b = _mm256_packs_epi32(iv[2], iv[3]);
    const __m256i p8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16a, p16b), order);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * kQK), p8);
    d[b] = db;
    dsum[b] = db * float(_mm_cvtsi128_si32(s4));
  }
  return;
#endif
  for (int64_t b = 0; b < k / kQK; ++b) {
    const float* xb = x + b * kQK;
    float amax = 0;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float db = amax / 127;
    const float id = db != 0 ? 1.0f / db : 0.0f;
    int sum = 0;
    for (int j = 0; j < kQK; ++j) {
      const int v = round_even(xb[j] * id);
      q[b * kQK + j] = int8_t(v);
      sum += v;
    }
    d[b] = db;
    dsum[b] = db * float(sum);
  }
}

// ggml's quantize_row_q8_K arithmetic: the signed absmax maps to -127, d = 1 / iscale, and the
// sums of each 16 quants are kept for the K types' min/offset terms.
void quantize_row_q8x256(const float* x, int64_t k, int8_t* q, float* d, int16_t* bsum) {
  for (int64_t s = 0; s < k / kQKK; ++s) {
    const float* xs = x + s * kQKK;
    int8_t* qs = q + s * kQKK;
    float amax = 0, maxv = 0;
#if defined(DSRT_QDOT_AVX2)
    // The same choice as the loop below (the first element of largest magnitude), found with
    // a vector max and a vector search for its first occurrence: the branchy scalar scan was
    // the main thread's largest serial step in a K-type decode.
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 mx = _mm256_setzero_ps();
    for (int e = 0; e < kQKK; e += 8) mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_loadu_ps(xs + e)));
    amax = hmax8(mx);
    if (amax > 0) {
      const __m256 va = _mm256_set1_ps(amax);
      for (int e = 0; e < kQKK; e += 8) {
        const int hit = _mm256_movemask_ps(
            _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(xs + e)), va, _CMP_EQ_OQ));
        if (hit) {
          maxv = xs[e + __builtin_ctz(unsigned(hit))];
          break;
        }
      }
    }
#else
    for (int e = 0; e < kQKK; ++e)
      if (std::fabs(xs[e]) > amax) {
        amax = std::fabs(xs[e]);
        maxv = xs[e];
      }
#endif
    if (maxv == 0) {
      std::memset(qs, 0, kQKK);
      d[s] = 0;
    } else {
      const float iscale = -127.f / maxv;
      for (int e = 0; e < kQKK; ++e) qs[e] = int8_t(std::min(127, round_even(iscale * xs[e])));
      d[s] = 1 / iscale;
    }
    for (int j = 0; j < 16; ++j) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += qs[16 * j + l];
      bsum[s * 16 + j] = int16_t(sum);
    }
  }
}

// ---- weight unpacking (plain loops; they vectorize) ----

void unpack_scale_min_k4(const uint8_t* q, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}
int unpack_scale_q3k(const uint8_t* s, int j) {
  const int low = j < 8 ? (s[j] & 0xf) : (s[j - 8] >> 4);
  const int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// Legacy types: w = d * u + m with u in [0, 15] or [0, 31]. One instantiation per type so
// the byte loops have fixed offsets and no branches, and vectorize.
template <DType T>
void unpack_legacy(const uint8_t* row, int64_t k, UnpackedRow* o) {
  constexpr bool kHasMin = T == DType::Q4_1 || T == DType::Q5_1;
  constexpr bool kFive = T == DType::Q5_0 || T == DType::Q5_1;
  constexpr int kQh = kHasMin ? 4 : 2;                  // offset of qh (Q5_x)
  constexpr int kQs = kQh + (kFive ? 4 : 0);            // offset of the nibbles
  constexpr int kBytes = kQs + 16;                      // block size in bytes
  constexpr float kOffset = T == DType::Q4_0 ? -8.0f : -16.0f;  // Q4_0 / Q5_0: w = (u - off) d
  const int64_t nb = k / kQK;
  o->u.resize(size_t(k));
  o->d.resize(size_t(nb));
  o->m.resize(size_t(nb));
  // Restrict-qualified locals: u is a byte pointer, which may alias anything, so without them
  // the compiler reloads the vectors' data pointers and checks overlap in every block.
  uint8_t* __restrict u = o->u.data();
  float* __restrict dv = o->d.data();
  float* __restrict mv = o->m.data();
  for (int64_t b = 0; b < nb; ++b, u += kQK) {
    const uint8_t* __restrict blk = row + b * kBytes;
    const uint8_t* __restrict qs = blk + kQs;
    for (int j = 0; j < 16; ++j) {
      u[j] = qs[j] & 0xf;
      u[j + 16] = qs[j] >> 4;
    }
    if constexpr (kFive) {
      const uint32_t qh = load_u32(blk + kQh);
      for (int j = 0; j < 32; ++j) u[j] |= uint8_t(((qh >> j) & 1) << 4);
    }
    const float d = load_half(blk);
    dv[b] = d;
    mv[b] = kHasMin ? load_half(blk + 2) : kOffset * d;
  }
}

// K types: w = dk * sc * u - dmin * mn per 16-element sub-block.
void unpack_q2_k(const uint8_t* b, uint8_t* u, uint32_t* sc, int16_t* mn, float* dk, float* dmin) {
  // scales[16] @0 (low nibble scale, high nibble min), qs[64] @16, d @80, dmin @82
  const uint8_t* qs = b + 16;
  for (int j = 0; j < 16; ++j) {
    sc[j] = dup16(b[j] & 0xf);
    mn[j] = int16_t(b[j] >> 4);
  }
  for (int h = 0; h < 2; ++h)
    for (int g = 0; g < 4; ++g)
      for (int l = 0; l < 32; ++l) u[128 * h + 32 * g + l] = (qs[32 * h + l] >> (2 * g)) & 3;
  *dk = load_half(b + 80);
  *dmin = load_half(b + 82);
}
void unpack_q3_k(const uint8_t* b, uint8_t* u, uint32_t* sc, int16_t* mn, float* dk, float* dmin) {
  // hmask[32] @0, qs[64] @32, scales[12] @96, d @108; q = u - 4 with u = low | hbit << 2
  const uint8_t* hm = b;
  const uint8_t* qs = b + 32;
  for (int j = 0; j < 16; ++j) {
    const int v = unpack_scale_q3k(b + 96, j);
    sc[j] = dup16(v);
    mn[j] = int16_t(4 * v);
  }
  for (int h = 0; h < 2; ++h)
    for (int g = 0; g < 4; ++g)
      for (int l = 0; l < 32; ++l)
        u[128 * h + 32 * g + l] =
            uint8_t(((qs[32 * h + l] >> (2 * g)) & 3) | (((hm[l] >> (4 * h + g)) & 1) << 2));
  *dk = *dmin = load_half(b + 108);
}
template <bool kFive>
void unpack_q45_k(const uint8_t* b, uint8_t* u, uint32_t* sc, int16_t* mn, float* dk, float* dmin) {
  // d @0, dmin @2, scales[12] @4, then Q4_K: qs[128] @16; Q5_K: qh[32] @16, qs[128] @48
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + (kFive ? 48 : 16);
  for (int j = 0; j < 8; ++j) {
    int scv, mv;
    unpack_scale_min_k4(b + 4, j, &scv, &mv);
    sc[2 * j] = sc[2 * j + 1] = dup16(scv);
    mn[2 * j] = mn[2 * j + 1] = int16_t(mv);
  }
  for (int p = 0; p < 4; ++p)
    for (int l = 0; l < 32; ++l) {
      u[64 * p + l] = qs[32 * p + l] & 0xf;
      u[64 * p + 32 + l] = qs[32 * p + l] >> 4;
    }
  if constexpr (kFive) {
    for (int j = 0; j < 8; ++j)
      for (int l = 0; l < 32; ++l) u[32 * j + l] |= uint8_t(((qh[l] >> j) & 1) << 4);
  }
  *dk = load_half(b);
  *dmin = load_half(b + 2);
}
void unpack_q6_k(const uint8_t* b, uint8_t* u, uint32_t* sc, int16_t* mn, float* dk, float* dmin) {
  // ql[128] @0, qh[64] @128, int8 scales[16] @192, d @208; q = u - 32
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  for (int j = 0; j < 16; ++j) {
    const int v = int8_t(b[192 + j]);
    sc[j] = dup16(v);
    mn[j] = int16_t(32 * v);
  }
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t l0 = ql[64 * h + l], l1 = ql[64 * h + 32 + l], hb = qh[32 * h + l];
      u[128 * h + l] = uint8_t((l0 & 0xf) | ((hb & 3) << 4));
      u[128 * h + 32 + l] = uint8_t((l1 & 0xf) | (((hb >> 2) & 3) << 4));
      u[128 * h + 64 + l] = uint8_t((l0 >> 4) | (((hb >> 4) & 3) << 4));
      u[128 * h + 96 + l] = uint8_t((l1 >> 4) | (((hb >> 6) & 3) << 4));
    }
  *dk = *dmin = load_half(b + 208);
}

using SuperBlockUnpacker = void (*)(const uint8_t*, uint8_t*, uint32_t*, int16_t*, float*, float*);

void unpack_k(DType t, const uint8_t* row, int64_t k, UnpackedRow* o) {
  SuperBlockUnpacker f = nullptr;
  switch (t) {
    case DType::Q2_K:
      f = unpack_q2_k;
      break;
    case DType::Q3_K:
      f = unpack_q3_k;
      break;
    case DType::Q4_K:
      f = unpack_q45_k<false>;
      break;
    case DType::Q5_K:
      f = unpack_q45_k<true>;
      break;
    case DType::Q6_K:
      f = unpack_q6_k;
      break;
    default:
      DSRT_CHECK(false);
  }
  const int64_t ns = k / kQKK, bb = dtype_info(t).block_bytes;
  o->u.resize(size_t(k));
  o->sc.resize(size_t(k / 16));
  o->mn.resize(size_t(k / 16));
  o->dk.resize(size_t(ns));
  o->dmin.resize(size_t(ns));
  for (int64_t s = 0; s < ns; ++s)
    f(row + s * bb, o->u.data() + s * kQKK, o->sc.data() + s * 16, o->mn.data() + s * 16,
      o->dk.data() + s, o->dmin.data() + s);
}

// ---- portable dots ----

float dot_q8_0_generic(const uint8_t* row, const int8_t* xq, const float* xd, int64_t nb) {
  float acc = 0;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = row + b * 34;
    const int8_t* w = reinterpret_cast<const int8_t*>(blk + 2);
    int s = 0;
    for (int j = 0; j < kQK; ++j) s += int(w[j]) * int(xq[b * kQK + j]);
    acc += float(s) * (load_half(blk) * xd[b]);
  }
  return acc;
}

float dot_legacy_generic(const UnpackedRow& w, const int8_t* xq, const float* xd,
                         const float* xdsum, int64_t nb) {
  float acc = 0, off = 0;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* u = w.u.data() + b * kQK;
    int s = 0;
    for (int j = 0; j < kQK; ++j) s += int(u[j]) * int(xq[b * kQK + j]);
    acc += float(s) * (w.d[b] * xd[b]);
    off += w.m[b] * xdsum[b];
  }
  return acc + off;
}

float dot_k_generic(const UnpackedRow& w, const int8_t* xq, const float* xd,
                    const int16_t* xbsum, int64_t ns) {
  float acc = 0, off = 0;
  for (int64_t s = 0; s < ns; ++s) {
    int isum = 0, ibias = 0;
    for (int j = 0; j < 16; ++j) {
      const uint8_t* u = w.u.data() + s * kQKK + 16 * j;
      const int8_t* x = xq + s * kQKK + 16 * j;
      int t = 0;
      for (int l = 0; l < 16; ++l) t += int(u[l]) * int(x[l]);
      isum += t * int(int16_t(w.sc[s * 16 + j] & 0xffff));
      ibias += int(w.mn[s * 16 + j]) * int(xbsum[s * 16 + j]);
    }
    acc += float(isum) * (w.dk[s] * xd[s]);
    off += float(ibias) * (w.dmin[s] * xd[s]);
  }
  return acc - off;
}

// ---- AVX2 dots ----
#ifdef DSRT_QDOT_AVX2

inline float hsum(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}
inline __m256i loadu256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}
// Sum of u[j] * x[j] over 32 (unsigned 8-bit u <= 63, signed x in [-127, 127]) as 8 int32.
// maddubs adds adjacent pairs into int16 (<= 2 * 63 * 127, no saturation), madd by ones
// widens to int32.
inline __m256i dot32_u8s8(__m256i u, __m256i x) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1));
}

inline uint32_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
// Software prefetch, 2 KiB ahead, of every cache line of the kBytes at b (a block or a group
// of blocks) in the in-place GEMV dots: one thread's rows are a single stream, but the
// hardware prefetcher restarts on every small matrix and every chunk.
template <int kBytes>
inline void prefetch_ahead(const uint8_t* b) {
  constexpr int kAhead = 2048;
  for (int o = 0; o < kBytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(b) + kAhead + o, _MM_HINT_T0);
}

// The f16 fields of 8 consecutive blocks (kBytes apart) as 8 floats: lane inserts and one
// vcvtph2ps instead of a scalar convert per block.
template <int kBytes>
inline __m256 halves8(const uint8_t* p) {
  __m128i h = _mm_cvtsi32_si128(int(load_u16(p)));
  h = _mm_insert_epi16(h, int(load_u16(p + 1 * kBytes)), 1);
  h = _mm_insert_epi16(h, int(load_u16(p + 2 * kBytes)), 2);
  h = _mm_insert_epi16(h, int(load_u16(p + 3 * kBytes)), 3);
  h = _mm_insert_epi16(h, int(load_u16(p + 4 * kBytes)), 4);
  h = _mm_insert_epi16(h, int(load_u16(p + 5 * kBytes)), 5);
  h = _mm_insert_epi16(h, int(load_u16(p + 6 * kBytes)), 6);
  h = _mm_insert_epi16(h, int(load_u16(p + 7 * kBytes)), 7);
  return _mm256_cvtph_ps(h);
}

// A row's dot product left unreduced: hsum(v) + t. Reducing four rows together (rows_loop4)
// costs a third of four separate reductions, which on a 576-wide Q8_0 row (18 blocks) were 12%
// of the GEMV (perf).
struct VecDot {
  __m256 v;
  float t;
};
inline float reduce(VecDot d) { return hsum(d.v) + d.t; }
// [hsum(a.v) + a.t, ..., hsum(d.v) + d.t]
inline __m128 reduce4(VecDot a, VecDot b, VecDot c, VecDot d) {
  const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a.v, b.v), _mm256_hadd_ps(c.v, d.v));
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  return _mm_add_ps(s, _mm_setr_ps(a.t, b.t, c.t, d.t));
}

// The 32-block types read in place (GEMV). Per block one integer dot and one FMA whose scale
// d_w * d_x is broadcast from a buffer that is filled 8 blocks at a time (8 f16 scales
// converted together), so no block does scalar convert / multiply / broadcast work:
//  - Q8_0: maddubs(|x|, sign(w, x)) = w * x pairwise (|.| <= 2 * 127 * 128, no saturation).
//  - Q4_x/Q5_x: maddubs(u, x) with the unsigned quants u (<= 2 * 31 * 127); the offset of
//    Q4_0/Q5_0 (w = d (u - 8 | 16)) and the min of Q4_1/Q5_1 (w = d u + m) are per-block
//    terms d_w * (d_x sum q_x) and m * (d_x sum q_x), accumulated 8 blocks per FMA.
// Q5's 32 high bits spread to bytes by a shuffle, an OR with all-but-one-bit masks and a
// compare against all ones (0xff where the bit is set).
template <DType T>
[[gnu::always_inline]] inline VecDot dot_legacy_direct_avx2(const uint8_t* row, const int8_t* xq, const float* xd,
                                                            const float* xdsum, int64_t nb) {
  constexpr bool kQ8 = T == DType::Q8_0;
  constexpr bool kHasMin = T == DType::Q4_1 || T == DType::Q5_1;
  constexpr bool kFive = T == DType::Q5_0 || T == DType::Q5_1;
  constexpr int kQh = kHasMin ? 4 : 2;
  constexpr int kQs = kQ8 ? 2 : kQh + (kFive ? 4 : 0);
  constexpr int kBytes = kQ8 ? 34 : kQs + 16;
  constexpr float kOff = T == DType::Q4_0 ? 8.0f : T == DType::Q5_0 ? 16.0f : 0.0f;
  const __m256i ones16 = _mm256_set1_epi16(1);
  const __m256i low4 = _mm256_set1_epi8(0xf);
  const __m256i spread = _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202,
                                            0x0303030303030303);
  const __m256i allbut = _mm256_set1_epi64x(int64_t(0x7fbfdfeff7fbfdfe));
  const __m256i allones = _mm256_set1_epi64x(-1);
  const __m256i bit4 = _mm256_set1_epi8(0x10);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  __m256 offv = _mm256_setzero_ps();  // sum over blocks of (d_w or m) * d_x sum q_x
  float off_tail = 0;
  alignas(32) float sc[8];
  auto block = [&](const uint8_t* blk, const int8_t* x, float s, __m256 a) {
    const __m256i xv = loadu256(x);
    __m256i p16;
    if constexpr (kQ8) {
      p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(xv, xv), _mm256_sign_epi8(loadu256(blk + 2), xv));
    } else {
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kQs));
      __m256i u = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), low4);
      if constexpr (kFive) {
        const __m256i h = _mm256_shuffle_epi8(_mm256_set1_epi32(int32_t(load_u32(blk + kQh))), spread);
        const __m256i set = _mm256_cmpeq_epi8(_mm256_or_si256(h, allbut), allones);
        u = _mm256_or_si256(u, _mm256_and_si256(set, bit4));
      }
      p16 = _mm256_maddubs_epi16(u, xv);
    }
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones16)), _mm256_set1_ps(s), a);
  };
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    const uint8_t* g = row + b * kBytes;
    prefetch_ahead<8 * kBytes>(g);
    const __m256 dw = halves8<kBytes>(g);
    _mm256_store_ps(sc, _mm256_mul_ps(dw, _mm256_loadu_ps(xd + b)));
    if constexpr (kHasMin) {
      offv = _mm256_fmadd_ps(halves8<kBytes>(g + 2), _mm256_loadu_ps(xdsum + b), offv);
    } else if constexpr (!kQ8) {
      offv = _mm256_fmadd_ps(dw, _mm256_loadu_ps(xdsum + b), offv);
    }
    for (int j = 0; j < 8; ++j) acc[j & 3] = block(g + j * kBytes, xq + (b + j) * kQK, sc[j], acc[j & 3]);
  }
  // The tail's blocks go to one accumulator: a run-time index (acc[b & 3]) would put the
  // whole array on the stack, and the main loop with it (perf: 5% of the GEMV on one reload).
  for (; b < nb; ++b) {
    const uint8_t* blk = row + b * kBytes;
    const float dw = load_half(blk);
    acc[0] = block(blk, xq + b * kQK, dw * xd[b], acc[0]);
    if constexpr (kHasMin) {
      off_tail += load_half(blk + 2) * xdsum[b];
    } else if constexpr (!kQ8) {
      off_tail += dw * xdsum[b];
    }
  }
  const __m256 dot = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
  if constexpr (kQ8) return {dot, 0.0f};
  if constexpr (kHasMin) return {_mm256_add_ps(dot, offv), off_tail};
  return {_mm256_fnmadd_ps(_mm256_set1_ps(kOff), offv, dot), -kOff * off_tail};
}


float dot_legacy_avx2(const UnpackedRow& w, const int8_t* xq, const float* xd,
                      const float* xdsum, int64_t nb) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const uint8_t* u = w.u.data();
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m256i p0 = dot32_u8s8(loadu256(u + b * kQK), loadu256(xq + b * kQK));
    const __m256i p1 = dot32_u8s8(loadu256(u + (b + 1) * kQK), loadu256(xq + (b + 1) * kQK));
    acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(w.d[b] * xd[b]), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_set1_ps(w.d[b + 1] * xd[b + 1]), acc1);
  }
  if (b < nb) {
    const __m256i p0 = dot32_u8s8(loadu256(u + b * kQK), loadu256(xq + b * kQK));
    acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(w.d[b] * xd[b]), acc0);
  }
  // Offset term sum_b m_b * d_x,b * sum(q_x,b), eight blocks at a time.
  __m256 off = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 8 <= nb; c += 8)
    off = _mm256_fmadd_ps(_mm256_loadu_ps(w.m.data() + c), _mm256_loadu_ps(xdsum + c), off);
  float tail = 0;
  for (; c < nb; ++c) tail += w.m[c] * xdsum[c];
  return hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), off)) + tail;
}

float dot_k_avx2(const UnpackedRow& w, const int8_t* xq, const float* xd, const int16_t* xbsum,
                 int64_t ns) {
  __m256 acc = _mm256_setzero_ps(), off = _mm256_setzero_ps();
  // Lanes 0-3 take sub-block 2t's scale, lanes 4-7 sub-block 2t + 1's.
  const __m256i idx[4] = {_mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1),
                          _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3),
                          _mm256_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5),
                          _mm256_setr_epi32(6, 6, 6, 6, 7, 7, 7, 7)};
  for (int64_t s = 0; s < ns; ++s) {
    const uint8_t* u = w.u.data() + s * kQKK;
    const int8_t* x = xq + s * kQKK;
    __m256i isum0 = _mm256_setzero_si256(), isum1 = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const __m256i scv = loadu256(w.sc.data() + s * 16 + 8 * half);
      for (int t = 0; t < 4; t += 2) {
        const int g = 4 * half + t;
        // Per pair of 16-element sub-blocks: maddubs -> int16 pairs, madd by the sub-block
        // scales -> int32 (|.| <= 2 * 2 * 63 * 127 * 128 per lane, far from overflow).
        const __m256i p0 = _mm256_maddubs_epi16(loadu256(u + 32 * g), loadu256(x + 32 * g));
        const __m256i p1 =
            _mm256_maddubs_epi16(loadu256(u + 32 * (g + 1)), loadu256(x + 32 * (g + 1)));
        isum0 = _mm256_add_epi32(isum0,
                                 _mm256_madd_epi16(p0, _mm256_permutevar8x32_epi32(scv, idx[t])));
        isum1 = _mm256_add_epi32(
            isum1, _mm256_madd_epi16(p1, _mm256_permutevar8x32_epi32(scv, idx[t + 1])));
      }
    }
    const float dx = xd[s];
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(isum0, isum1)),
                          _mm256_set1_ps(w.dk[s] * dx), acc);
    const __m256i bias = _mm256_madd_epi16(loadu256(w.mn.data() + s * 16), loadu256(xbsum + s * 16));
    off = _mm256_fmadd_ps(_mm256_cvtepi32_ps(bias), _mm256_set1_ps(w.dmin[s] * dx), off);
  }
  return hsum(_mm256_sub_ps(acc, off));
}


// K types read in place (GEMV): per super-block one int32 accumulator vector collects
// sum_j sc_j * sum(u * x) over the sub-blocks, then one float multiply-add with dk * dx; the
// min/offset term uses the activation's 16-element sums. Bounds: maddubs pairs <= 2 * 63 * 127
// (no int16 saturation), int32 lanes <= 16 * 63 * 63 * 127 * 2 per super-block.

// The 12 scale bytes of a Q4_K/Q5_K super-block as 8 six-bit scales and 8 mins, with 32-bit
// word operations instead of a per-sub-block branch: words a, b, c = bytes 0-3, 4-7, 8-11;
// sc[0..3] = a & 63, mn[0..3] = b & 63, sc[4..7] = (c & 15) | (a >> 6) << 4,
// mn[4..7] = (c >> 4) | (b >> 6) << 4 (per byte).
inline void k4_scales(const uint8_t* s12, uint8_t sc[8], uint8_t mn[8]) {
  const uint32_t a = load_u32(s12), b = load_u32(s12 + 4), c = load_u32(s12 + 8);
  const uint32_t lo6 = 0x3f3f3f3f, lo4 = 0x0f0f0f0f, lo2 = 0x03030303;
  const uint32_t w[4] = {a & lo6, (c & lo4) | (((a >> 6) & lo2) << 4), b & lo6,
                         ((c >> 4) & lo4) | (((b >> 6) & lo2) << 4)};
  std::memcpy(sc, w, 8);
  std::memcpy(mn, w + 2, 8);
}

template <bool kFive>
[[gnu::always_inline]] inline float dot_q45_k_direct_avx2(const uint8_t* row, const int8_t* xq, const float* xd,
                            const int16_t* xbsum, int64_t ns) {
  constexpr int kBytes = kFive ? 176 : 144;
  const __m256i low4 = _mm256_set1_epi8(0xf);
  const __m256i one = _mm256_set1_epi8(1);
  // Shuffle controls that broadcast int16 scale 2p / 2p + 1 of a 16-byte scale vector.
  __m256i bcast[8];
  for (int j = 0; j < 8; ++j) bcast[j] = _mm256_set1_epi16(int16_t(0x0100 * (2 * j + 1) + 2 * j));
  __m256 acc = _mm256_setzero_ps(), off = _mm256_setzero_ps();
  for (int64_t s = 0; s < ns; ++s) {
    const uint8_t* b = row + s * kBytes;
    prefetch_ahead<kBytes>(b);
    const uint8_t* qs = b + (kFive ? 48 : 16);
    const int8_t* x = xq + s * kQKK;
    alignas(16) uint8_t sc[8], mn[8];
    k4_scales(b + 4, sc, mn);
    // int16 scales in both 128-bit lanes; mins duplicated per 16-element half-sub-block.
    const __m128i sc16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc)));
    const __m256i scv = _mm256_set_m128i(sc16, sc16);
    const __m128i mn8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn));
    const __m256i mnv = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn8, mn8));
    __m256i qh;
    if constexpr (kFive) qh = loadu256(b + 16);
    __m256i isum = _mm256_setzero_si256();
    for (int p = 0; p < 4; ++p) {
      const __m256i q = loadu256(qs + 32 * p);
      __m256i u0 = _mm256_and_si256(q, low4);
      __m256i u1 = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      if constexpr (kFive) {
        // bit j of qh byte l is the fifth bit of element 32 j + l (sub-block j = 2p, 2p + 1)
        const __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * p), one);
        const __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * p + 1), one);
        u0 = _mm256_or_si256(u0, _mm256_slli_epi16(h0, 4));
        u1 = _mm256_or_si256(u1, _mm256_slli_epi16(h1, 4));
      }
      const __m256i p0 = _mm256_maddubs_epi16(u0, loadu256(x + 64 * p));
      const __m256i p1 = _mm256_maddubs_epi16(u1, loadu256(x + 64 * p + 32));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p0, _mm256_shuffle_epi8(scv, bcast[2 * p])));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p1, _mm256_shuffle_epi8(scv, bcast[2 * p + 1])));
    }
    // sum_j mn_j * (bsum_2j + bsum_2j+1) as one madd of the 16 activation sums.
    const __m256i bias = _mm256_madd_epi16(mnv, loadu256(xbsum + s * 16));
    const float dx = xd[s];
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(load_half(b) * dx), acc);
    off = _mm256_fmadd_ps(_mm256_cvtepi32_ps(bias), _mm256_set1_ps(load_half(b + 2) * dx), off);
  }
  return hsum(_mm256_sub_ps(acc, off));
}

[[gnu::always_inline]] inline float dot_q6_k_direct_avx2(const uint8_t* row, const int8_t* xq, const float* xd,
                           const int16_t* xbsum, int64_t ns) {
  const __m256i low4 = _mm256_set1_epi8(0xf);
  const __m256i three = _mm256_set1_epi8(3);
  // Shuffle controls: low 128-bit lane broadcasts int16 2g, high lane int16 2g + 1 of an
  // 8-scale half (both lanes hold the same half), i.e. sub-blocks j = 8h + 2g and j + 1.
  __m256i pick[4];
  for (int g = 0; g < 4; ++g) {
    const int16_t lo = int16_t(0x0100 * (4 * g + 1) + 4 * g), hi = int16_t(0x0100 * (4 * g + 3) + 4 * g + 2);
    pick[g] = _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo));
  }
  __m256 acc = _mm256_setzero_ps();
  for (int64_t s = 0; s < ns; ++s) {
    const uint8_t* b = row + s * 210;
    prefetch_ahead<210>(b);
    const int8_t* scl = reinterpret_cast<const int8_t*>(b + 192);
    const int8_t* x = xq + s * kQKK;
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scl)));
    const __m256i halves[2] = {_mm256_permute2x128_si256(sc16, sc16, 0x00),
                               _mm256_permute2x128_si256(sc16, sc16, 0x11)};
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i l0 = loadu256(b + 64 * h), l1 = loadu256(b + 64 * h + 32);
      const __m256i hb = loadu256(b + 128 + 32 * h);
      const __m256i u[4] = {
          _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_slli_epi16(_mm256_and_si256(hb, three), 4)),
          _mm256_or_si256(_mm256_and_si256(l1, low4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), three), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), three), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), three), 4))};
      for (int g = 0; g < 4; ++g) {  // 16-element sub-blocks 8h + 2g and 8h + 2g + 1
        const __m256i p = _mm256_maddubs_epi16(u[g], loadu256(x + 128 * h + 32 * g));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_shuffle_epi8(halves[h], pick[g])));
      }
    }
    // offset: q = u - 32, so subtract 32 * sum_j sc_j * bsum_j
    const __m256i bias = _mm256_madd_epi16(sc16, loadu256(xbsum + s * 16));
    isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(bias, 5));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(load_half(b + 208) * xd[s]), acc);
  }
  return hsum(acc);
}

#endif  // DSRT_QDOT_AVX2

}  // namespace

ActFormat act_format(DType w) {
  switch (w) {
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q8_0:
      return ActFormat::Q8x32;
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
      return ActFormat::Q8x256;
    default:
      return ActFormat::None;
  }
}

int64_t act_block(ActFormat f) {
  return f == ActFormat::Q8x256 ? kQKK : kQK;
}

Isa best_isa() {
#ifdef DSRT_QDOT_AVX2
  return Isa::Avx2;
#else
  return Isa::Generic;
#endif
}

void QuantizedActs::resize(ActFormat f, int64_t n_rows, int64_t n_cols) {
  DSRT_CHECK(f != ActFormat::None && n_cols % act_block(f) == 0);
  fmt = f;
  n = n_rows;
  k = n_cols;
  q.resize(size_t(n * k));
  d.resize(size_t(n * (k / act_block(f))));
  if (f == ActFormat::Q8x32) {
    dsum.resize(size_t(n * (k / kQK)));
  } else {
    bsum.resize(size_t(n * (k / 16)));
  }
}

void quantize_acts(const float* x, int64_t i0, int64_t i1, QuantizedActs* a) {
  const int64_t k = a->k, nb = k / act_block(a->fmt);
  for (int64_t i = i0; i < i1; ++i) {
    if (a->fmt == ActFormat::Q8x32) {
      quantize_row_q8x32(x + i * k, k, a->q.data() + i * k, a->d.data() + i * nb,
                         a->dsum.data() + i * nb);
    } else {
      quantize_row_q8x256(x + i * k, k, a->q.data() + i * k, a->d.data() + i * nb,
                          a->bsum.data() + i * (k / 16));
    }
  }
}

void unpack_weight_row(DType w, const uint8_t* row, int64_t k, UnpackedRow* out) {
  const ActFormat f = act_format(w);
  DSRT_CHECK(f != ActFormat::None && w != DType::Q8_0 && k % act_block(f) == 0);
  if (f == ActFormat::Q8x32) {
    switch (w) {
      case DType::Q4_0:
        return unpack_legacy<DType::Q4_0>(row, k, out);
      case DType::Q4_1:
        return unpack_legacy<DType::Q4_1>(row, k, out);
      case DType::Q5_0:
        return unpack_legacy<DType::Q5_0>(row, k, out);
      default:
        return unpack_legacy<DType::Q5_1>(row, k, out);
    }
  } else {
    unpack_k(w, row, k, out);
  }
}

void dequantize_row(DType w, const uint8_t* row, int64_t k, UnpackedRow* scratch, float* out) {
  DSRT_CHECK(act_format(w) != ActFormat::None && k % act_block(act_format(w)) == 0);
  float* __restrict o = out;
  if (w == DType::Q8_0) {
    for (int64_t b = 0; b < k / kQK; ++b) {
      const uint8_t* blk = row + b * 34;
      const float d = load_half(blk);
      const int8_t* __restrict q = reinterpret_cast<const int8_t*>(blk + 2);
      for (int j = 0; j < kQK; ++j) o[b * kQK + j] = d * float(q[j]);
    }
    return;
  }
  unpack_weight_row(w, row, k, scratch);
  const uint8_t* __restrict u = scratch->u.data();
  if (act_format(w) == ActFormat::Q8x32) {
    for (int64_t b = 0; b < k / kQK; ++b) {
      const float d = scratch->d[size_t(b)], m = scratch->m[size_t(b)];
      for (int j = 0; j < kQK; ++j) o[b * kQK + j] = d * float(u[b * kQK + j]) + m;
    }
    return;
  }
  for (int64_t s = 0; s < k / kQKK; ++s) {
    const float dk = scratch->dk[size_t(s)], dm = scratch->dmin[size_t(s)];
    for (int j = 0; j < 16; ++j) {
      const int64_t sb = s * 16 + j;
      const float scale = dk * float(int16_t(scratch->sc[size_t(sb)] & 0xffff));
      const float off = dm * float(scratch->mn[size_t(sb)]);
      for (int l = 0; l < 16; ++l) o[sb * 16 + l] = scale * float(u[sb * 16 + l]) - off;
    }
  }
}

float dot_unpacked(DType w, const UnpackedRow& wr, const QuantizedActs& a, int64_t i, Isa isa) {
  const int64_t k = a.k;
  const int8_t* xq = a.q.data() + i * k;
  if (a.fmt == ActFormat::Q8x32) {
    const int64_t nb = k / kQK;
    const float* xd = a.d.data() + i * nb;
    const float* xs = a.dsum.data() + i * nb;
#ifdef DSRT_QDOT_AVX2
    if (isa == Isa::Avx2) return dot_legacy_avx2(wr, xq, xd, xs, nb);
#endif
    return dot_legacy_generic(wr, xq, xd, xs, nb);
  }
  const int64_t ns = k / kQKK;
  const float* xd = a.d.data() + i * ns;
  const int16_t* xb = a.bsum.data() + i * (k / 16);
#ifdef DSRT_QDOT_AVX2
  if (isa == Isa::Avx2) return dot_k_avx2(wr, xq, xd, xb, ns);
#endif
  return dot_k_generic(wr, xq, xd, xb, ns);
}

bool has_direct(DType w, Isa isa) {
  if (w == DType::Q8_0) return true;
  if (isa != Isa::Avx2) return false;
  return act_format(w) == ActFormat::Q8x32 || w == DType::Q4_K || w == DType::Q5_K ||
         w == DType::Q6_K;
}

namespace {
// The per-row dots above inlined into one loop per type: constants and the dispatch are set
// up once per call instead of once per row, which matters for the short rows of MoE experts
// (k = 352: 11 blocks). dot_direct is the one-row case.
template <class Dot>
void rows_loop(const uint8_t* row0, size_t stride, int64_t nrows, float* out, int64_t ostride, const Dot& dot) {
  for (int64_t r = 0; r < nrows; ++r) out[r * ostride] = dot(row0 + size_t(r) * stride);
}
#ifdef DSRT_QDOT_AVX2
// rows_loop for a dot that returns VecDot: four rows reduced together.
template <class Dot>
void rows_loop4(const uint8_t* row0, size_t stride, int64_t nrows, float* out, int64_t ostride, const Dot& dot) {
  int64_t r = 0;
  for (; r + 4 <= nrows; r += 4) {
    const uint8_t* p = row0 + size_t(r) * stride;
    const VecDot a = dot(p), b = dot(p + stride), c = dot(p + 2 * stride), d = dot(p + 3 * stride);
    alignas(16) float y[4];
    _mm_store_ps(y, reduce4(a, b, c, d));
    for (int i = 0; i < 4; ++i) out[(r + i) * ostride] = y[i];
  }
  for (; r < nrows; ++r) out[r * ostride] = reduce(dot(row0 + size_t(r) * stride));
}
#endif
}  // namespace

void dot_direct_rows(DType w, const uint8_t* row0, size_t stride, int64_t nrows, const QuantizedActs& a,
                     int64_t i, Isa isa, float* out, int64_t ostride) {
#ifdef DSRT_QDOT_AVX2
  if (isa == Isa::Avx2 && a.fmt == ActFormat::Q8x256) {
    const int64_t ns = a.k / kQKK;
    const int8_t* xq = a.q.data() + i * a.k;
    const float* xd = a.d.data() + i * ns;
    const int16_t* xb = a.bsum.data() + i * (a.k / 16);
    switch (w) {
      case DType::Q4_K:
        return rows_loop(row0, stride, nrows, out, ostride,
                         [&](const uint8_t* r) { return dot_q45_k_direct_avx2<false>(r, xq, xd, xb, ns); });
      case DType::Q5_K:
        return rows_loop(row0, stride, nrows, out, ostride,
                         [&](const uint8_t* r) { return dot_q45_k_direct_avx2<true>(r, xq, xd, xb, ns); });
      case DType::Q6_K:
        return rows_loop(row0, stride, nrows, out, ostride,
                         [&](const uint8_t* r) { return dot_q6_k_direct_avx2(r, xq, xd, xb, ns); });
      default:
        DSRT_CHECK(false);
    }
  }
  if (isa == Isa::Avx2) {
    const int64_t nb = a.k / kQK;
    const int8_t* xq = a.q.data() + i * a.k;
    const float* xd = a.d.data() + i * nb;
    const float* xs = a.dsum.data() + i * nb;
    switch (w) {
#define DSRT_LEGACY_ROWS(T)                                                                       \
  case T:                                                                                         \
    return rows_loop4(row0, stride, nrows, out, ostride,                                          \
                      [&](const uint8_t* r) { return dot_legacy_direct_avx2<T>(r, xq, xd, xs, nb); });
      DSRT_LEGACY_ROWS(DType::Q8_0)
      DSRT_LEGACY_ROWS(DType::Q4_0)
      DSRT_LEGACY_ROWS(DType::Q4_1)
      DSRT_LEGACY_ROWS(DType::Q5_0)
      DSRT_LEGACY_ROWS(DType::Q5_1)
#undef DSRT_LEGACY_ROWS
      default:
        break;
    }
  }
#endif
  DSRT_CHECK(w == DType::Q8_0);
  const int64_t nb = a.k / kQK;
  const int8_t* xq = a.q.data() + i * a.k;
  const float* xd = a.d.data() + i * nb;
  rows_loop(row0, stride, nrows, out, ostride, [&](const uint8_t* r) { return dot_q8_0_generic(r, xq, xd, nb); });
}

float dot_direct(DType w, const uint8_t* row, const QuantizedActs& a, int64_t i, Isa isa) {
  float v;
  dot_direct_rows(w, row, 0, 1, a, i, isa, &v, 1);
  return v;
}

}  // namespace dsrt::qdot
