// Integer GEMM for prefill with the 32-element legacy types Q4_0/Q4_1/Q5_0/Q5_1 and the K
// types (cpu/opt, AVX2): y[n, m] = x[n, k] · Wᵀ with x already quantized to 8-bit blocks (qdot::QuantizedActs,
// Q8x32) and W unpacked to unsigned quants (qdot::unpack_weight_row: w = d * u + m per block).
//
// Layout: W is packed per call in panels of 8 rows, each block of 32 columns as 8 k-steps of
// [8 rows x 4 bytes] (one 32-byte vector per step) plus the 8 rows' d and m. One step for one
// token is a broadcast of its 4 activation bytes, one maddubs (u8 x s8 -> pairs summed to
// s16) and one 16-bit add; the 16-bit sums stay exact over a whole block for 4-bit quants
// (8 steps x 2 x 15 x 127 <= 32767) and over half a block for 5-bit ones. Per block and token
// one madd, one convert and three float ops apply d_x, d_w and m_w * sum(x). The output lanes
// are the panel's 8 rows, so a tile's results are stored as 8 contiguous floats per token.
// Six tokens per tile (four for 5-bit types) fill the 16 vector registers.
//
// The K types (Q2_K..Q6_K, activations Q8x256) use the same panels with 16-element
// sub-blocks: a sub-block's 16-bit sums are widened by one madd with the 8 rows' sub-block
// scales (6-bit Q6_K quants every two steps), the min term is a madd of the rows' sub-block
// mins with the activations' per-16 sums, and d / dmin apply once per 256 elements.
//
// Numerics are those of the integer dot path (op_test's bound for quantized activations):
// the only approximation is the activation rounding; integer sums are exact.
#pragma once

#include <cstdint>

#include "backends/cpu_opt/quant_dot.h"
#include "core/dtype.h"
#include "core/thread_pool.h"

namespace dsrt::gemm {

// Whether gemm_q8_legacy runs weight type w in this build (AVX2; a 32-block legacy or a K type).
bool int8_gemm_supported(DType w);

// y[i * ldy + j] = x_i · w_j for i < acts.n, j < m, where w_j is the row at row0 + j * stride
// of type w (k = acts.k columns, a multiple of the block; acts in act_format(w)). Panels are
// split over the pool.
void gemm_q8_legacy(DType w, const uint8_t* row0, size_t stride, int64_t m,
                    const qdot::QuantizedActs& acts, float* y, int64_t ldy, ThreadPool* pool);

}  // namespace dsrt::gemm
