#include "core/dtype.h"

#include <array>
#include <cmath>

namespace dsrt {
namespace {

// Block sizes and byte sizes follow the GGUF specification (ggml's block_* structs).
constexpr DTypeInfo kInfos[] = {
    {DType::F32, "F32", 1, 4},      {DType::F16, "F16", 1, 2},
    {DType::Q4_0, "Q4_0", 32, 18},  {DType::Q4_1, "Q4_1", 32, 20},
    {DType::Q5_0, "Q5_0", 32, 22},  {DType::Q5_1, "Q5_1", 32, 24},
    {DType::Q8_0, "Q8_0", 32, 34},  {DType::Q8_1, "Q8_1", 32, 36},
    {DType::Q2_K, "Q2_K", 256, 84}, {DType::Q3_K, "Q3_K", 256, 110},
    {DType::Q4_K, "Q4_K", 256, 144}, {DType::Q5_K, "Q5_K", 256, 176},
    {DType::Q6_K, "Q6_K", 256, 210}, {DType::Q8_K, "Q8_K", 256, 292},
    {DType::I8, "I8", 1, 1},        {DType::I16, "I16", 1, 2},
    {DType::I32, "I32", 1, 4},      {DType::I64, "I64", 1, 8},
    {DType::F64, "F64", 1, 8},      {DType::BF16, "BF16", 1, 2},
    {DType::F8_E4M3, "F8_E4M3", 1, 1},
};

const DTypeInfo* find_info(int32_t raw) {
  for (const auto& i : kInfos)
    if (int32_t(i.type) == raw) return &i;
  return nullptr;
}

std::array<float, 256> make_e4m3_table() {
  std::array<float, 256> t{};
  for (int v = 0; v < 256; ++v) {
    const int sign = v >> 7, exp = (v >> 3) & 0xf, man = v & 7;
    float f;
    if (exp == 0xf && man == 7) {
      f = NAN;
    } else if (exp == 0) {
      f = std::ldexp(float(man), -9);  // subnormal: m * 2^-9
    } else {
      f = std::ldexp(1.0f + float(man) / 8.0f, exp - 7);
    }
    t[v] = sign ? -f : f;
  }
  return t;
}
const std::array<float, 256> kE4m3 = make_e4m3_table();

}  // namespace

bool dtype_valid(int32_t raw) { return find_info(raw) != nullptr; }

const DTypeInfo& dtype_info(DType t) {
  const DTypeInfo* i = find_info(int32_t(t));
  DSRT_CHECK_MSG(i != nullptr, "unknown dtype " + std::to_string(int32_t(t)));
  return *i;
}

std::string_view dtype_name(DType t) {
  const DTypeInfo* i = find_info(int32_t(t));
  return i ? i->name : "invalid";
}

Result<size_t> dtype_row_bytes(DType t, int64_t n) {
  const DTypeInfo* i = find_info(int32_t(t));
  if (!i) return Status::Error("unknown dtype " + std::to_string(int32_t(t)));
  if (n < 0 || n % i->block_size != 0)
    return Status::Error("row of " + std::to_string(n) + " elements is not a multiple of " +
                         std::string(i->name) + "'s block size " +
                         std::to_string(i->block_size));
  return size_t(n / i->block_size) * size_t(i->block_bytes);
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp == 0) {
    if (man == 0) return bits_to_f32(sign);
    // Subnormal half: value = man * 2^-24, exact in float32.
    float f = std::ldexp(float(man), -24);
    return sign ? -f : f;
  }
  if (exp == 31) return bits_to_f32(sign | 0x7f800000 | (man << 13));
  return bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t f32_to_f16(float f) {
  const uint32_t u = f32_to_bits(f);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000);
  const uint32_t au = u & 0x7fffffff;
  if (au > 0x7f800000) return sign | 0x7e00;   // NaN
  if (au >= 0x477ff000) return sign | 0x7c00;  // rounds to >= 65520: inf
  if (au < 0x38800000) {
    // Result is subnormal (or zero): value / 2^-24 rounded to nearest even.
    const float a = bits_to_f32(au);
    const float scaled = a * 16777216.0f;  // exact: power-of-two scale
    return sign | uint16_t(std::nearbyint(scaled));
  }
  uint32_t r = au + 0xfff + ((au >> 13) & 1);  // round to nearest even at bit 13
  return sign | uint16_t(((r >> 13) - (112 << 10)) & 0x7fff);
}

float e4m3_to_f32(uint8_t v) { return kE4m3[v]; }

uint8_t f32_to_e4m3(float f) {
  if (std::isnan(f)) return 0x7f;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7e;
  // Search the 127 non-negative codes for the nearest; ties go to the even code.
  int best = 0;
  float best_d = INFINITY;
  for (int c = 0; c < 0x7f; ++c) {
    const float d = std::fabs(kE4m3[c] - a);
    if (d < best_d || (d == best_d && (c & 1) == 0)) {
      best_d = d;
      best = c;
    }
  }
  return sign | uint8_t(best);
}

}  // namespace dsrt
