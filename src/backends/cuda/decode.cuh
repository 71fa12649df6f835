// Device-side decoders of the weight storage formats, bit-identical to the host decoders in
// core/dtype.cpp, core/quant.cpp and weight_row_to_f32: the same products in the same order,
// each rounded on its own (__fmul_rn / __fsub_rn keep the compiler from contracting them into
// fused multiply-adds, which would round once and differ from ggml's and our CPU values).
#pragma once

#include <cstdint>

#include "backends/cuda/kernels.h"

namespace dsrt::cuda {

__device__ __forceinline__ float dev_bits_to_f32(uint32_t u) {
  return __uint_as_float(u);
}

__device__ __forceinline__ float dev_bf16(uint16_t h) {
  return __uint_as_float(uint32_t(h) << 16);
}

// IEEE binary16 -> float, exact (subnormals m * 2^-24 are exact in float).
__device__ __forceinline__ float dev_f16(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e == 0) {
    const float v = __fmul_rn(float(m), 5.9604644775390625e-8f);  // 2^-24
    return sign ? -v : v;
  }
  if (e == 31) return __uint_as_float(sign | 0x7f800000u | (m << 13));
  return __uint_as_float(sign | ((e + 112) << 23) | (m << 13));
}

// float8 e4m3fn: bias 7, no infinities, 0x7f/0xff NaN, subnormals m * 2^-9.
__device__ __forceinline__ float dev_e4m3(uint8_t v) {
  const uint32_t sign = uint32_t(v & 0x80) << 24;
  const uint32_t e = (v >> 3) & 0xf, m = v & 7;
  if (e == 15 && m == 7) return __uint_as_float(0x7fc00000u);
  if (e == 0) {
    const float f = __fmul_rn(float(m), 0.001953125f);  // 2^-9
    return sign ? -f : f;
  }
  return __uint_as_float(sign | ((e + 120) << 23) | (m << 20));
}

__device__ __forceinline__ uint16_t dev_u16(const uint8_t* p) {
  return uint16_t(p[0]) | uint16_t(uint16_t(p[1]) << 8);
}

// Q4_K / Q5_K 6-bit scale and min of sub-block j (see quant.cpp's unpack_scale_min_k4).
__device__ __forceinline__ void dev_scale_min_k4(const uint8_t* q, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Element c of row r.
__device__ __forceinline__ float decode1(const DeviceWeight& w, int64_t r, int64_t c) {
  const uint8_t* row = w.data + r * w.row_bytes;
  switch (w.dtype) {
    case DType::F32:
      return reinterpret_cast<const float*>(row)[c];
    case DType::F16:
      return dev_f16(reinterpret_cast<const uint16_t*>(row)[c]);
    case DType::BF16:
      return dev_bf16(reinterpret_cast<const uint16_t*>(row)[c]);
    case DType::F8_E4M3: {
      const int64_t b = w.scale_block;
      const float s = w.scale[((r + w.scale_row0) / b) * w.scale_cols + c / b];
      return __fmul_rn(dev_e4m3(row[c]), s);
    }
    case DType::Q8_0: {
      const uint8_t* blk = row + (c / 32) * 34;
      const float d = dev_f16(dev_u16(blk));
      return __fmul_rn(float(int8_t(blk[2 + c % 32])), d);
    }
    case DType::Q4_0: {
      const uint8_t* blk = row + (c / 32) * 18;
      const float d = dev_f16(dev_u16(blk));
      const int j = int(c % 32);
      const int q = j < 16 ? (blk[2 + j] & 0xf) : (blk[2 + j - 16] >> 4);
      return __fmul_rn(float(q - 8), d);
    }
    case DType::Q4_K: {
      const uint8_t* blk = row + (c / 256) * 144;
      const int e = int(c % 256), j = e / 32;
      const float d = dev_f16(dev_u16(blk)), dmin = dev_f16(dev_u16(blk + 2));
      int sc, m;
      dev_scale_min_k4(blk + 4, j, &sc, &m);
      const uint8_t byte = blk[16 + 32 * (j / 2) + e % 32];
      const int q = (j & 1) ? (byte >> 4) : (byte & 0xf);
      return __fsub_rn(__fmul_rn(__fmul_rn(d, float(sc)), float(q)), __fmul_rn(dmin, float(m)));
    }
    case DType::Q6_K: {
      const uint8_t* blk = row + (c / 256) * 210;
      const int e = int(c % 256), h = e / 128, g = (e % 128) / 32, l = e % 32;
      const uint8_t lb = blk[64 * h + 32 * (g & 1) + l];
      const int low = g >= 2 ? (lb >> 4) : (lb & 0xf);
      const int high = (blk[128 + 32 * h + l] >> (2 * g)) & 3;
      const float d = dev_f16(dev_u16(blk + 208));
      const float sc = float(int8_t(blk[192 + e / 16]));
      return __fmul_rn(__fmul_rn(d, sc), float((low | (high << 4)) - 32));
    }
    default:
      return __uint_as_float(0x7fc00000u);  // unreachable: supports() rejects other types
  }
}

// Elements [8 g, 8 g + 8) of row r (8 g + 8 <= cols). Eight consecutive elements never cross
// a quant block (block sizes are multiples of 32) nor an FP8 scale block (128), so the block
// header is read once per group.
__device__ __forceinline__ void decode8(const DeviceWeight& w, int64_t r, int64_t g, float* o) {
  const uint8_t* row = w.data + r * w.row_bytes;
  const int64_t c0 = 8 * g;
  switch (w.dtype) {
    case DType::F32: {
      const float* p = reinterpret_cast<const float*>(row) + c0;
#pragma unroll
      for (int i = 0; i < 8; ++i) o[i] = p[i];
      return;
    }
    case DType::F16:
    case DType::BF16: {
      const uint16_t* p = reinterpret_cast<const uint16_t*>(row) + c0;
      uint16_t h[8];
      if ((w.row_bytes & 15) == 0) {  // 16-byte aligned rows: one vector load
        const uint4 v = *reinterpret_cast<const uint4*>(p);
        const uint32_t u[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          h[2 * i] = uint16_t(u[i] & 0xffff);
          h[2 * i + 1] = uint16_t(u[i] >> 16);
        }
      } else {
#pragma unroll
        for (int i = 0; i < 8; ++i) h[i] = p[i];
      }
      if (w.dtype == DType::BF16) {
#pragma unroll
        for (int i = 0; i < 8; ++i) o[i] = dev_bf16(h[i]);
      } else {
#pragma unroll
        for (int i = 0; i < 8; ++i) o[i] = dev_f16(h[i]);
      }
      return;
    }
    case DType::F8_E4M3: {
      const int64_t b = w.scale_block;
      const float s = w.scale[((r + w.scale_row0) / b) * w.scale_cols + c0 / b];
#pragma unroll
      for (int i = 0; i < 8; ++i) o[i] = __fmul_rn(dev_e4m3(row[c0 + i]), s);
      return;
    }
    case DType::Q8_0: {
      const uint8_t* blk = row + (c0 / 32) * 34;
      const float d = dev_f16(dev_u16(blk));
      const int8_t* q = reinterpret_cast<const int8_t*>(blk + 2 + c0 % 32);
#pragma unroll
      for (int i = 0; i < 8; ++i) o[i] = __fmul_rn(float(q[i]), d);
      return;
    }
    case DType::Q4_0: {
      const uint8_t* blk = row + (c0 / 32) * 18;
      const float d = dev_f16(dev_u16(blk));
      const int j = int(c0 % 32);
      const uint8_t* qs = blk + 2 + (j % 16);
      const int shift = j < 16 ? 0 : 4;
#pragma unroll
      for (int i = 0; i < 8; ++i) o[i] = __fmul_rn(float(((qs[i] >> shift) & 0xf) - 8), d);
      return;
    }
    case DType::Q4_K: {
      const uint8_t* blk = row + (c0 / 256) * 144;
      const int e = int(c0 % 256), j = e / 32;
      const float d = dev_f16(dev_u16(blk)), dmin = dev_f16(dev_u16(blk + 2));
      int sc, m;
      dev_scale_min_k4(blk + 4, j, &sc, &m);
      const float d1 = __fmul_rn(d, float(sc)), m1 = __fmul_rn(dmin, float(m));
      // qs offset 16 + 32 (j/2) + e%32 is a multiple of 8 from the 16-aligned block start.
      const uint2 v = *reinterpret_cast<const uint2*>(blk + 16 + 32 * (j / 2) + e % 32);
      const int shift = (j & 1) ? 4 : 0;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const uint32_t word = i < 4 ? v.x : v.y;
        const int q = int((word >> (8 * (i % 4) + shift)) & 0xf);
        o[i] = __fsub_rn(__fmul_rn(d1, float(q)), m1);
      }
      return;
    }
    case DType::Q6_K: {
      const uint8_t* blk = row + (c0 / 256) * 210;
      const int e = int(c0 % 256), h = e / 128, g2 = (e % 128) / 32, l = e % 32;
      const uint8_t* ql = blk + 64 * h + 32 * (g2 & 1) + l;
      const uint8_t* qh = blk + 128 + 32 * h + l;
      const float d = dev_f16(dev_u16(blk + 208));
      const float dsc = __fmul_rn(d, float(int8_t(blk[192 + e / 16])));
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const int low = g2 >= 2 ? (ql[i] >> 4) : (ql[i] & 0xf);
        const int high = (qh[i] >> (2 * g2)) & 3;
        o[i] = __fmul_rn(dsc, float((low | (high << 4)) - 32));
      }
      return;
    }
    default:
#pragma unroll
      for (int i = 0; i < 8; ++i) o[i] = __uint_as_float(0x7fc00000u);
  }
}

}  // namespace dsrt::cuda
