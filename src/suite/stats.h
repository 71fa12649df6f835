// Summary statistics and timing helpers shared by the suite's cases.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace dsrt::suite {

struct Summary {
  int n = 0;
  double mean = 0, sd = 0, min = 0, max = 0;
  double p50 = 0, p90 = 0, p99 = 0;  // nearest-rank percentiles
};

// Sample standard deviation (n - 1); sd 0 for one sample. Empty input gives n = 0.
Summary summarize(std::vector<double> v);

// Nearest-rank percentile (q in [0, 100]) of an unsorted sample; 0 for an empty one.
double percentile(std::vector<double> v, double q);

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Keeps a value alive so the compiler cannot drop the work that produced it.
template <class T>
inline void keep(const T& v) {
  asm volatile("" : : "g"(&v) : "memory");
}

}  // namespace dsrt::suite
