// Element types. The GGUF block-quantized types keep ggml's numeric ids (ggml_type) so a GGUF
// tensor's type field maps directly; the ones a backend cannot run fail at load time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/status.h"

namespace dsrt {

enum class DType : int32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
  // Not a ggml type: DeepSeek-V3's float8 e4m3fn (safetensors "F8_E4M3"). Weights of this
  // type carry a 128x128 block scale tensor (weight_scale_inv) beside them.
  F8_E4M3 = 1000,
  Invalid = -1,
};

struct DTypeInfo {
  DType type;
  const char* name;
  int32_t block_size;   // elements per block (1 for scalar types)
  int32_t block_bytes;  // bytes per block
};

const DTypeInfo& dtype_info(DType t);  // checks t is valid
std::string_view dtype_name(DType t);
bool dtype_valid(int32_t raw);
// Bytes of a row of n elements; error if n is not a multiple of the block size.
Result<size_t> dtype_row_bytes(DType t, int64_t n);

// ---- scalar conversions (exact, round-to-nearest-even where narrowing) ----

inline float bits_to_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t f32_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float bf16_to_f32(uint16_t h) { return bits_to_f32(uint32_t(h) << 16); }
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_to_bits(f);
  if ((u & 0x7fffffff) > 0x7f800000) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fff + ((u >> 16) & 1);  // round to nearest even
  return uint16_t(u >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// float8 e4m3fn: bias 7, no infinities, 0x7f/0xff NaN, max 448, subnormals m * 2^-9.
float e4m3_to_f32(uint8_t v);
uint8_t f32_to_e4m3(float f);  // round to nearest even, saturating to +-448

}  // namespace dsrt
