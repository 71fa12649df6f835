// The op-test harness without gtest or the CLI: every kernel of every non-reference backend
// against cpu/ref, as `dsrt test-ops` does. Built by DSRT_KERNELS_ONLY (cross builds).
// Usage: op_tests [--quick] [op]
#include <cstdio>
#include <cstring>
#include <string>

#include "backends/op_test.h"

int main(int argc, char** argv) {
  dsrt::OpTestOptions o;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      o.quick = true;
    } else {
      o.op = argv[i];
    }
  }
  auto ref = dsrt::make_cpu_ref_backend();
  int n_fail = 0, n = 0;
  for (const std::string& name : dsrt::backend_names()) {
    if (name == "cpu-ref") continue;
    auto be = dsrt::make_backend(name, 2);
    if (!be.ok()) return 2;
    for (const auto& r : dsrt::run_op_tests(*be.value(), *ref, o)) {
      ++n;
      if (!r.passed) {
        ++n_fail;
        std::printf("FAIL %s %s: err %.3g (bound %.3g) %s\n", name.c_str(), r.desc.c_str(),
                    r.error, r.bound, r.note.c_str());
      }
    }
  }
  std::printf("op_tests: %d/%d cases passed against cpu-ref\n", n - n_fail, n);
  return n_fail == 0 && n > 0 ? 0 : 1;
}
