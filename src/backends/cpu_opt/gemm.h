// Register-blocked FP32 GEMM for prefill and batched decode (cpu/opt): y[n, m] = x[n, k] · Wᵀ
// with W's rows produced by a row decoder (F32 copy, F16/BF16 conversion, or block-quant
// dequantization), so every weight type gets the same micro-kernel.
//
// Blocking (the usual outer-product GEMM, e.g. BLIS/GotoBLAS): W is decoded and packed in
// panels of kNr = 16 rows, transposed so that column c of the panel is 16 contiguous floats,
// in k-slices of kKc columns (a slice is 16 KB and stays in L1). The micro-kernel holds a
// 6 x 16 tile of y in 12 AVX2 registers; each column c costs two panel loads, six broadcasts
// of x and twelve FMAs, so it runs at the FMA ports' rate rather than the loads'. The
// portable build uses the same blocking with a plain loop the compiler vectorizes.
//
// Numerics: each y element is a float32 sum over k in column order with FMA, the same
// summation class as the dot-product path (the op test bounds both by the Higham bound).
#pragma once

#include <cstdint>
#include <functional>

#include "core/thread_pool.h"

namespace dsrt::gemm {

constexpr int kNr = 16;     // weight rows per packed panel
constexpr int kMr = 6;      // tokens per micro-kernel tile
constexpr int64_t kKc = 256;  // columns per packed k-slice

// decode(row, out) writes weight row `row` (k floats) to out.
using RowDecoder = std::function<void(int64_t row, float* out)>;

// y[n, m] (row stride ldy) = x[n, k] (row stride ldx) · Wᵀ, W = m decoded rows of k. The
// panels are split over the pool's threads; pool = nullptr runs them on the calling thread,
// for callers that parallelize at a coarser grain (the prefill attention runs one GEMM per
// head and query block).
void gemm_f32(const float* x, int64_t ldx, int64_t n, int64_t k, int64_t m,
              const RowDecoder& decode, float* y, int64_t ldy, ThreadPool* pool);

// The same with W given by columns: wt_row(c, j0, nc, out) writes W[j0 .. j0 + nc, c] (nc
// floats, i.e. a row of Wᵀ) to out. For O = P · V the columns of W = Vᵀ are V's rows, so the
// panel is packed by plain copies instead of a gather (the attention's second GEMM).
using ColumnDecoder = std::function<void(int64_t c, int64_t j0, int nc, float* out)>;
void gemm_f32_wt(const float* x, int64_t ldx, int64_t n, int64_t k, int64_t m,
                 const ColumnDecoder& wt_row, float* y, int64_t ldy, ThreadPool* pool);

// Small batches (a handful to a few dozen rows of x, e.g. a 16-stream decode step) where
// packing panels would cost as much as the products: a dot-product-style kernel that holds a
// 2-weight-row x 6-token tile of vector accumulators over k and reduces them at the end, with
// the weights read in place — F32, or F16/BF16 converted in registers (wtype is the DType
// id; other types are not accepted). ldw is the weight row stride in elements.
enum class HalfKind { F32, F16, BF16 };
void gemm_small(const float* x, int64_t ldx, int64_t n, int64_t k, int64_t m, const void* w,
                int64_t ldw, HalfKind kind, float* y, int64_t ldy, ThreadPool& pool);

// One tile of gemm_small on the calling thread: y[t * ldy + r] = x[t] . w_r for t < n and
// the F32 rows w_0 = w0 and (if w1 is not null) w_1 = w1, each of k floats. For products
// whose "weight" rows are scattered (keys in a paged KV cache).
void small_rows_f32(const float* x, int64_t ldx, int64_t n, int64_t k, const float* w0,
                    const float* w1, float* y, int64_t ldy);
// o[h * ldo + c] = sum_j p[h * ldp + j] * rows[j][c0 + c] for h < nh, c < 16, j < n: 16
// output columns of P V for nh (<= 6) rows of P with V given by row pointers, the values of a
// row read once for all nh rows (a 6 x 16 tile of accumulators). Ends with c0 + 16 <= d.
void pv_tile16(const float* p, int64_t ldp, int nh, const float* const* rows, int64_t n,
               int64_t c0, float* o, int64_t ldo);
}  // namespace dsrt::gemm
