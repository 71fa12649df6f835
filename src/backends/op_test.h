// The op-test harness: every kernel of a candidate backend is checked against cpu/ref on
// random inputs over a sweep of sizes (1, 3, 63, 65, 4097 ...) and weight dtypes, with
// guard regions around every output, a finite-output check, and an error bound whose reason
// is written beside it. Used by tests/unit/test_ops.cpp and by `dsrt test-ops`.
#pragma once

#include <string>
#include <vector>

#include "backends/backend.h"

namespace dsrt {

struct OpTestResult {
  Op op;
  std::string desc;   // e.g. "matmul w=BF16 n=3 k=65 m=63"
  double error = 0;   // the metric compared against the bound
  double bound = 0;
  bool passed = false;
  std::string note;   // why it failed (guard overwritten, NaN, ...)
};

struct OpTestOptions {
  std::string op;          // empty: all ops; else one op name (see op_name)
  bool quick = false;      // fewer sizes (CI under emulation)
  uint64_t seed = 1234;
};

std::vector<OpTestResult> run_op_tests(Backend& candidate, Backend& reference,
                                       const OpTestOptions& opt);

}  // namespace dsrt
