// Machine limits: memory read and triad bandwidth, FP32 FMA and int8 dot-product peaks (AVX2
// and portable loops). They run first; the kernel and model cases are placed against them.
#include <algorithm>

#include "suite/microbench.h"
#include "suite/results.h"
#include "suite/stats.h"

namespace dsrt::suite {
namespace {

size_t bw_bytes(const CaseContext& c) { return c.quick() ? size_t(128) << 20 : size_t(512) << 20; }
int passes(const CaseContext& c) { return c.quick() ? 3 : 5; }
double pass_seconds(const CaseContext& c) { return c.quick() ? 0.15 : 0.5; }

CaseResult bandwidth(CaseContext& c, bool triad) {
  CaseResult r;
  r.params = {{"bytes", bw_bytes(c)}, {"threads", c.threads}, {"element", "uint64/double"}};
  if (triad) r.params["kernel"] = "a[i] = b[i] + s * c[i], 24 bytes counted per element (STREAM)";
  else r.params["kernel"] = "sum of 8-byte loads, 4 independent sums per thread";
  r.repetitions = passes(c);
  c.progress("streaming " + std::to_string(bw_bytes(c) >> 20) + " MiB on " + std::to_string(c.threads) +
             " threads");
  auto s = triad ? triad_bandwidth_gbs(bw_bytes(c), c.threads, passes(c))
                 : read_bandwidth_gbs(bw_bytes(c), c.threads, passes(c));
  // The machine limit is the best pass: the others lost time to neighbours on a shared host.
  const double best = *std::max_element(s.begin(), s.end());
  (triad ? c.limits.triad_bw_gbs : c.limits.read_bw_gbs) = best;
  r.add(triad ? "triad_bw" : "read_bw", "GB/s", s);
  r.extra["best_gbs"] = best;
  return r;
}

CaseResult compute_peak(CaseContext& c, bool int8, SimdPath path) {
  CaseResult r;
  if (path == SimdPath::Avx2 && !cpu_has_avx2_fma())
    return CaseResult::unavailable("this CPU does not report AVX2+FMA (cpuid); see the portable case",
                                   {{"path", "avx2"}});
  r.params = {{"path", simd_path_name(path)}, {"threads", c.threads}, {"seconds_per_pass", pass_seconds(c)}};
  r.params["loop"] = int8 ? (path == SimdPath::Avx2 ? "vpmaddubsw+vpmaddwd+vpaddd, 8 chains"
                                                     : "int8*int8 -> int32 C++ loop")
                          : (path == SimdPath::Avx2 ? "vfmadd ps ymm, 12 chains" : "float a*b+c C++ loop, 64 lanes");
  r.repetitions = passes(c);
  c.progress(std::string(int8 ? "int8 dot" : "fp32 fma") + " loop, " + simd_path_name(path));
  auto s = int8 ? int8_peak_gops(path, c.threads, pass_seconds(c), passes(c))
                : fp32_peak_gflops(path, c.threads, pass_seconds(c), passes(c));
  const double best = *std::max_element(s.begin(), s.end());
  double& lim = int8 ? c.limits.int8_gops : c.limits.fp32_gflops;
  lim = std::max(lim, best);
  r.add(int8 ? "int8_peak" : "fp32_peak", int8 ? "GOP/s" : "GFLOP/s", s);
  r.extra["best"] = best;
  return r;
}

}  // namespace

void add_machine_cases(std::vector<CaseDef>& out) {
  out.push_back({"mem.read_bw", 1, "machine", "Memory read bandwidth", false,
                 [](CaseContext& c) { return bandwidth(c, false); }});
  out.push_back({"mem.triad_bw", 1, "machine", "Memory triad bandwidth (STREAM)", false,
                 [](CaseContext& c) { return bandwidth(c, true); }});
  out.push_back({"cpu.fp32_fma_peak", 1, "machine", "FP32 FMA peak (AVX2)", false,
                 [](CaseContext& c) { return compute_peak(c, false, SimdPath::Avx2); }});
  out.push_back({"cpu.fp32_fma_portable", 1, "machine", "FP32 multiply-add, portable C++", false,
                 [](CaseContext& c) { return compute_peak(c, false, SimdPath::Portable); }});
  out.push_back({"cpu.int8_dot_peak", 1, "machine", "int8 dot-product peak (AVX2)", false,
                 [](CaseContext& c) { return compute_peak(c, true, SimdPath::Avx2); }});
  out.push_back({"cpu.int8_dot_portable", 1, "machine", "int8 dot product, portable C++", false,
                 [](CaseContext& c) { return compute_peak(c, true, SimdPath::Portable); }});
}

}  // namespace dsrt::suite
