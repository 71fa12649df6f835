// `dsrt bench suite` and `dsrt bench compare`: sub-modes of `dsrt bench` (registered from
// cmd_bench.cpp through add_suite_modes) over the dsrt_suite library. See docs/suite.md.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "cli/command.h"
#include "suite/compare.h"
#include "suite/suite.h"

namespace dsrt::cli {

namespace {

std::string self_exe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, size_t(n)) : std::string();
}

struct SuiteCli {
  bool quick = false, standard = false, list = false;
  std::vector<std::string> models, only;
  std::string out;
  int threads = 0;
};

int run_suite_cmd(const SuiteCli& o) {
  if (o.list) {
    for (const auto& [id, title] : suite::list_cases()) std::printf("%-32s %s\n", id.c_str(), title.c_str());
    return 0;
  }
  if (o.quick && o.standard) return fail("bench suite", "--quick and --standard exclude each other");
  if (o.out.empty()) return fail("bench suite", "--out DIR is required");
  suite::SuiteOptions so;
  so.mode = o.standard ? suite::Mode::Standard : suite::Mode::Quick;
  so.models = o.models;
  so.out_dir = o.out;
  so.threads = o.threads;
  so.only = o.only;
  so.self_exe = self_exe();
  for (const auto& c : command_registry()) so.commands.push_back(c.name);
  auto r = suite::run_suite(so);
  if (!r.ok()) return fail("bench suite", r.status().message());
  int ok = 0, other = 0;
  for (const auto& c : r.value()["cases"]) (c["status"] == "ok" ? ok : other)++;
  std::printf("dsrt bench suite: %d cases ok, %d not available here; wrote %s/results.json, report.md, report.html\n",
              ok, other, o.out.c_str());
  return 0;
}

struct CompareCli {
  std::vector<std::string> files;
  int baseline = 1;
  std::string out;
};

int run_compare_cmd(const CompareCli& o) {
  if (o.files.size() < 2) return fail("bench compare", "needs at least two results.json files");
  std::vector<nlohmann::json> docs;
  for (const auto& f : o.files) {
    auto d = suite::read_results(f);
    if (!d.ok()) return fail("bench compare", d.status().message());
    docs.push_back(std::move(d).value());
  }
  auto r = suite::compare_results(docs, o.files, o.baseline - 1);
  if (!r.ok()) return fail("bench compare", r.status().message());
  if (o.out.empty()) {
    std::fwrite(r.value().markdown.data(), 1, r.value().markdown.size(), stdout);
  } else {
    std::error_code ec;
    std::filesystem::create_directories(o.out, ec);
    for (auto [name, text] : {std::pair<std::string, const std::string*>{"compare.md", &r.value().markdown},
                              {"compare.html", &r.value().html}}) {
      std::ofstream f(o.out + "/" + name);
      f << *text;
      if (!f) return fail("bench compare", o.out + "/" + name + ": cannot write");
    }
    std::printf("dsrt bench compare: wrote %s/compare.md and compare.html\n", o.out.c_str());
  }
  for (const auto& w : r.value().warnings) std::fprintf(stderr, "dsrt bench compare: warning: %s\n", w.c_str());
  return 0;
}

}  // namespace

// Adds `suite` and `compare` under `dsrt bench`; the returned function runs whichever was
// given, or returns nullopt so that plain `dsrt bench` runs.
std::function<std::optional<int>()> add_suite_modes(CLI::App& bench) {
  auto so = std::make_shared<SuiteCli>();
  CLI::App* s = bench.add_subcommand("suite", "Run the standard validation and benchmark suite (docs/suite.md)");
  s->add_flag("--quick", so->quick, "Small sizes, under 3 minutes (the default)");
  s->add_flag("--standard", so->standard, "Full sizes and repetitions");
  s->add_option("-m,--model", so->models, "Model folder or GGUF file (repeatable; default: the demo model)");
  s->add_option("--out", so->out, "Output folder for results.json, report.md, report.html");
  s->add_option("-t,--threads", so->threads, "Threads (default: all hardware threads)")->check(CLI::Range(0, 1024));
  s->add_option("--only", so->only, "Run only cases whose id starts with one of these (repeatable)");
  s->add_flag("--list", so->list, "List the case ids and exit");
  auto co = std::make_shared<CompareCli>();
  CLI::App* c = bench.add_subcommand("compare", "Side-by-side tables of several suite results.json files");
  c->add_option("files", co->files, "results.json files")->required();
  c->add_option("--baseline", co->baseline, "1-based position of the baseline file (default 1)");
  c->add_option("--out", co->out, "Write compare.md and compare.html here (default: markdown to stdout)");
  return [=]() -> std::optional<int> {
    if (s->parsed()) return run_suite_cmd(*so);
    if (c->parsed()) return run_compare_cmd(*co);
    return std::nullopt;
  };
}

}  // namespace dsrt::cli
