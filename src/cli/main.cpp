// dsrt: one binary, many subcommands (see `dsrt --help`).
#include <cstdio>
#include <map>

#include "cli/command.h"
#include "core/log.h"
#include "core/mmap_file.h"
#include "core/tensor.h"

namespace dsrt::cli {

std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}

int fail(const std::string& cmd, const std::string& msg) {
  std::fprintf(stderr, "dsrt %s: error: %s\n", cmd.c_str(), msg.c_str());
  return 1;
}

}  // namespace dsrt::cli

int main(int argc, char** argv) {
  using namespace dsrt::cli;
  dsrt::keep_freed_memory();
  CLI::App app{"dsrt: a runtime for the DeepSeek model family"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "dsrt 0.1.0");
  bool verbose = false, mmap_on = false, mmap_off = false;
  app.add_flag("-v,--verbose", verbose, "Log progress to stderr");
  // Where weight files live (core/mmap_file.h). Given before or after the subcommand.
  CLI::Option* mm = app.add_flag("--mmap", mmap_on,
                                 "Use weight files in place through mmap (default: dense models of 32 MiB up to half "
                                 "the available memory are read into transparent huge pages, faster decode)");
  app.add_flag("--no-mmap", mmap_off, "Always read weight files into (huge-page) memory, MoE models too")->excludes(mm);
  app.fallthrough();
  std::map<CLI::App*, std::function<int()>> runners;
  for (auto& spec : command_registry()) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.help);
    runners[sub] = spec.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (verbose) dsrt::set_log_level(dsrt::LogLevel::Info);
  if (mmap_on) dsrt::set_default_residency(dsrt::Residency::Map);
  if (mmap_off) dsrt::set_default_residency(dsrt::Residency::Copy);
  for (auto& [sub, run] : runners)
    if (sub->parsed()) return run();
  return 1;
}
