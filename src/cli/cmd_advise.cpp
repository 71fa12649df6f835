// `dsrt advise`: which hardware and precision fit a model for a scenario, and how fast they
// should run, from a roofline model over a built-in specification table (docs/suite.md).
#include <cstdio>

#include "cli/command.h"
#include "suite/advise.h"

namespace dsrt::cli {
namespace {

DSRT_COMMAND(advise_cmd, "advise", "Which hardware and precision fit a model, and how fast (roofline)",
             [](CLI::App& app) -> std::function<int()> {
               auto o = std::make_shared<suite::AdviseOptions>();
               auto json_out = std::make_shared<bool>(false);
               app.add_option("-m,--model", o->model, "Known model name (e.g. DeepSeek-V3) or checkpoint folder")
                   ->required();
               app.add_option("--scenario", o->scenario, "infer | serve | train")
                   ->check(CLI::IsMember({"infer", "serve", "train"}));
               app.add_option("-c,--context", o->context, "Context length in tokens (default 4096)");
               app.add_option("--concurrency", o->concurrency, "Concurrent sequences (serve) / per step (train)");
               app.add_option("--budget-mem", o->budget_mem_gb, "Memory budget in GB (1e9 bytes)");
               app.add_option("--profile", o->profile, "results.json of `dsrt bench suite` to calibrate with");
               app.add_flag("--json", *json_out, "Print the options as JSON");
               CLI::App* ap = &app;
               return [=] {
                 if (o->context < 1) return fail("advise", "--context must be >= 1");
                 if (ap->count("--concurrency") && o->concurrency < 1)
                   return fail("advise", "--concurrency must be >= 1");
                 if (ap->count("--budget-mem") && o->budget_mem_gb <= 0)
                   return fail("advise", "--budget-mem must be > 0 GB");
                 auto a = suite::advise(*o);
                 if (!a.ok()) return fail("advise", a.status().message());
                 if (*json_out) std::printf("%s\n", a.value().j.dump(2).c_str());
                 else std::fwrite(a.value().text.data(), 1, a.value().text.size(), stdout);
                 return 0;
               };
             });

}  // namespace
}  // namespace dsrt::cli
