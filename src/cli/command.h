// Subcommand registry. Each cmd_*.cpp file registers itself with DSRT_COMMAND; main() builds
// the CLI11 app from the registry, so adding a subcommand never touches main.cpp.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace dsrt::cli {

// setup() adds the subcommand's options to `app` and returns the function that runs it after
// parsing; that function returns the process exit code.
using CommandSetup = std::function<std::function<int()>(CLI::App& app)>;

struct CommandSpec {
  std::string name;
  std::string help;
  CommandSetup setup;
};

std::vector<CommandSpec>& command_registry();

struct CommandRegistrar {
  CommandRegistrar(std::string name, std::string help, CommandSetup setup) {
    command_registry().push_back({std::move(name), std::move(help), std::move(setup)});
  }
};

// Prints "dsrt <cmd>: error: msg" to stderr and returns exit code 1.
int fail(const std::string& cmd, const std::string& msg);

}  // namespace dsrt::cli

#define DSRT_COMMAND(var, name, help, setup) \
  static ::dsrt::cli::CommandRegistrar var(name, help, setup)
