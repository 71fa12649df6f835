// GGUF block-quantized formats (bit-compatible with ggml's block layouts): reference
// quantizers and dequantizers. The optimized dot products live in backends/cpu_opt.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace dsrt {

// True when dequantize_row can decode rows of this type.
bool quant_can_dequantize(DType t);
// Decodes n elements (a multiple of the block size) from src into dst.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);

}  // namespace dsrt
