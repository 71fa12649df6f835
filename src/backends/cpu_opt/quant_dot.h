// Integer dot products for block-quantized weights (cpu/opt), in the manner of ggml's
// vec_dot kernels: the activation row is quantized once to 8-bit blocks (32 elements with a
// float scale for the legacy types Q4_0..Q8_0; 256 elements with 16-element sums, ggml's Q8_K
// arithmetic, for the K types), and each weight block then costs one integer dot product
// and one or two float multiply-adds instead of a float decode of every weight.
//
// Two stages keep the per-type code small and shared between ISAs:
//  1. unpack_weight_row: a weight row is unpacked (plain C++ that compilers vectorize on x86
//     and ARM alike) into unsigned quants u[k] plus per-block scales, so that every weight is
//     w = d * u + m (legacy) or w = dk * sc * u - dmin * mn (K types, per 16-element
//     sub-block). Q8_0 is already int8 and is read in place (dot_q8_0).
//  2. the dot of an unpacked row with a quantized activation row: AVX2 (maddubs/madd) when
//     the build targets it, else a portable integer loop (aarch64, or `cpu-generic`).
// One unpacked row is reused for a whole tile of tokens, so for n > 1 each weight row is
// decoded once per tile, not once per (row, token).
//
// Numerics versus the float reference: the only approximation is the activation rounding,
// |x - d q| <= d/2 per element (d = block amax / 127); integer sums are exact and the float
// work is a few roundings per block (see test_matmul in op_test.cpp for the bound).
#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace dsrt::qdot {

enum class ActFormat { None, Q8x32, Q8x256 };
// The activation format the integer kernel of weight type w consumes; None when the type has
// no integer kernel (F32/F16/BF16/F8 and Q8_1/Q8_K weights keep the float path).
ActFormat act_format(DType w);
int64_t act_block(ActFormat f);  // 32 or 256

enum class Isa { Generic, Avx2 };
Isa best_isa();  // what this build can run (AVX2 needs the build to target AVX2+FMA+F16C)

// n activation rows of k elements quantized to 8 bits, block by block.
struct QuantizedActs {
  ActFormat fmt = ActFormat::None;
  int64_t n = 0, k = 0;
  std::vector<int8_t> q;      // [n, k]
  std::vector<float> d;       // [n, k / block] scale of each block
  std::vector<float> dsum;    // Q8x32: [n, k / 32] d * sum(q) of each block (for offsets)
  std::vector<int16_t> bsum;  // Q8x256: [n, k / 16] sum(q) of each 16 elements
  void resize(ActFormat f, int64_t n_rows, int64_t n_cols);
};
// Quantizes rows [i0, i1) of x [n, k] (row stride k) into a (already resize()d).
void quantize_acts(const float* x, int64_t i0, int64_t i1, QuantizedActs* a);

// One weight row in the form the integer dots consume (buffers reused across rows).
struct UnpackedRow {
  std::vector<uint8_t> u;     // [k] unsigned quants
  std::vector<float> d, m;    // legacy: [k / 32], w = d * u + m
  std::vector<uint32_t> sc;   // K: [k / 16] sub-block scale, as two equal int16 halves
  std::vector<int16_t> mn;    // K: [k / 16] sub-block min multiplier
  std::vector<float> dk, dmin;  // K: [k / 256], w = dk * sc * u - dmin * mn
};
// Unpacks one row of k elements of type w (act_format(w) != None, w != Q8_0).
void unpack_weight_row(DType w, const uint8_t* row, int64_t k, UnpackedRow* out);

// Dequantizes one row of k elements of type w (act_format(w) != None) to float through
// unpack_weight_row (plain loops that vectorize; the reference decoders in core/quant.cpp are
// scalar and 5-20x slower, which showed when the GEMM decodes its panels). Same values as the
// reference decoder up to float rounding of the d * u + m products. scratch is reused.
void dequantize_row(DType w, const uint8_t* row, int64_t k, UnpackedRow* scratch, float* out);

// Dot of an unpacked weight row with activation row i.
float dot_unpacked(DType w, const UnpackedRow& wr, const QuantizedActs& a, int64_t i, Isa isa);
// Whether dot_direct reads weight type w in place on this ISA: Q8_0 always (it is already
// int8); Q4_0/Q4_1/Q5_0/Q5_1 and Q4_K/Q5_K/Q6_K on AVX2, which splits the nibbles and high
// bits in registers.
bool has_direct(DType w, Isa isa);
// Dot of a weight row read in place (has_direct(w, isa)) with activation row i.
float dot_direct(DType w, const uint8_t* row, const QuantizedActs& a, int64_t i, Isa isa);
// out[r * ostride] = dot_direct(w, row0 + r * stride, a, i, isa) for r < nrows, with the
// type dispatch and the kernels' constants set up once.
void dot_direct_rows(DType w, const uint8_t* row0, size_t stride, int64_t nrows, const QuantizedActs& a,
                     int64_t i, Isa isa, float* out, int64_t ostride);

}  // namespace dsrt::qdot
