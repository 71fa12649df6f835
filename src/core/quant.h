// GGUF block-quantized formats (bit-compatible with ggml's block layouts): reference
// quantizers and dequantizers, and the plain reference dot product the optimized kernels are
// tested against. The optimized dot products live in backends/cpu_opt.
//
// Every function here takes n elements, n a multiple of the type's block size (dtype_info);
// that is an internal invariant checked always (callers validate user data first, e.g. with
// dtype_row_bytes). Rows are contiguous; blocks are laid out back to back exactly as ggml's
// block_* structs (little-endian, no padding), so a GGUF tensor row is a valid src.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace dsrt {

// True when dequantize_row can decode rows of this type: F32, F16, BF16, Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K.
bool quant_can_dequantize(DType t);
// Decodes n elements (a multiple of the block size) from src into dst. Bit-identical to
// ggml's dequantize_row_* (same multiplication order, no fused multiply-add).
void dequantize_row(DType t, const void* src, float* dst, int64_t n);

// True when quantize_row can encode this type: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K.
bool quant_can_quantize(DType t);
// Encodes n elements (a multiple of the block size) of src into dst (dtype_row_bytes(t, n)
// bytes). Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/Q8_K produce exactly the bits of ggml's
// quantize_row_*_ref (plain round-to-nearest scales); the other K types use our own
// least-squares scale search (see quant.cpp), so their bits differ from llama-quantize's
// while their error is comparable. Inputs must be finite.
void quantize_row(DType t, const float* src, void* dst, int64_t n);

// Reference dot product of one weight row (n elements of type wtype) with x: dequantizes a
// block at a time and accumulates w[i] * x[i] in float, in index order. The oracle twin of
// the optimized quantized kernels.
float vec_dot_ref(DType wtype, const void* wrow, const float* x, int64_t n);

}  // namespace dsrt
