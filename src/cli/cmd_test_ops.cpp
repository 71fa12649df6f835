// `dsrt test-ops [--op NAME] [--backend NAME]`: the op-test harness from the command line,
// as llama.cpp's test-backend-ops: every op of a backend against cpu/ref.
#include <cstdio>

#include "backends/op_test.h"
#include "cli/command.h"

namespace dsrt::cli {
namespace {

int run_test_ops(const std::string& op, const std::string& backend, int threads, bool quick,
                 bool verbose) {
  Op parsed;
  if (!op.empty() && !op_from_name(op, &parsed)) {
    std::string known;
    for (int i = 0; i < int(Op::kCount); ++i) known += std::string(i ? ", " : "") + op_name(Op(i));
    return fail("test-ops", "unknown op '" + op + "' (known: " + known + ")");
  }
  auto be = make_backend(backend, threads);
  if (!be.ok()) return fail("test-ops", be.status().message());
  auto ref = make_cpu_ref_backend();
  OpTestOptions o;
  o.op = op;
  o.quick = quick;
  int n_fail = 0, n = 0;
  for (const auto& r : run_op_tests(*be.value(), *ref, o)) {
    ++n;
    n_fail += !r.passed;
    if (verbose || !r.passed)
      std::printf("%-4s %-60s err %.3g (bound %.3g)%s%s\n", r.passed ? "OK" : "FAIL",
                  r.desc.c_str(), r.error, r.bound, r.note.empty() ? "" : "  ", r.note.c_str());
  }
  std::printf("%s: %d/%d cases passed against cpu-ref\n", backend.c_str(), n - n_fail, n);
  return n_fail == 0 && n > 0 ? 0 : 1;
}

DSRT_COMMAND(test_ops_cmd, "test-ops", "Check every kernel of a backend against cpu/ref",
             [](CLI::App& app) -> std::function<int()> {
               auto op = std::make_shared<std::string>();
               auto backend = std::make_shared<std::string>("cpu");
               auto threads = std::make_shared<int>(0);
               auto quick = std::make_shared<bool>(false);
               auto verbose = std::make_shared<bool>(false);
               app.add_option("--op", *op, "Only this op (matmul, attention, moe_ffn, ...)");
               app.add_option("--backend", *backend, "Backend to check (cpu)");
               app.add_option("-t,--threads", *threads, "Threads (0 = all cores)")
                   ->check(CLI::Range(0, 1024));
               app.add_flag("--quick", *quick, "Fewer sizes");
               app.add_flag("--list", *verbose, "Print every case, not only failures");
               return [=] { return run_test_ops(*op, *backend, *threads, *quick, *verbose); };
             });

}  // namespace
}  // namespace dsrt::cli
