// Machine micro-benchmarks: memory read and triad bandwidth, FP32 FMA peak and int8
// dot-product peak. Each returns one sample (a rate) per pass; callers summarize. The SIMD
// loops are chosen at run time (__builtin_cpu_supports), so a portable build still measures
// the AVX2 peak of a machine that has it, and the portable loops run everywhere.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace dsrt::suite {

// GB/s of `threads` threads summing disjoint parts of a `bytes` buffer (8-byte loads), one
// sample per pass after a warm-up pass that also faults the pages in.
std::vector<double> read_bandwidth_gbs(size_t bytes, int threads, int passes);
// STREAM triad a[i] = b[i] + s * c[i] over three arrays of bytes / 3 each; counts 3 x 8 bytes
// per element as STREAM does (the write-allocate read of `a` is not counted).
std::vector<double> triad_bandwidth_gbs(size_t bytes, int threads, int passes);

enum class SimdPath { Avx2, Portable };
const char* simd_path_name(SimdPath p);
// True when this CPU runs the AVX2 (+FMA) loops.
bool cpu_has_avx2_fma();

// GFLOP/s of independent FP32 fused multiply-adds (2 flops each) on every thread; the
// portable loop is plain C++ multiply-adds over float arrays (what the compiler makes of it).
std::vector<double> fp32_peak_gflops(SimdPath path, int threads, double seconds_per_pass, int passes);
// GOP/s of int8 x int8 -> int32 dot products (2 ops per multiply-accumulate): AVX2's
// vpmaddubsw + vpmaddwd (the sequence GGUF quant dot products use), or a portable loop.
std::vector<double> int8_peak_gops(SimdPath path, int threads, double seconds_per_pass, int passes);

}  // namespace dsrt::suite
