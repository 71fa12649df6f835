#include "core/log.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace dsrt {
namespace {

LogLevel initial_level() {
  const char* e = std::getenv("DSRT_LOG");
  if (!e) return LogLevel::Warn;
  if (!std::strcmp(e, "debug")) return LogLevel::Debug;
  if (!std::strcmp(e, "info")) return LogLevel::Info;
  if (!std::strcmp(e, "error")) return LogLevel::Error;
  return LogLevel::Warn;
}

std::atomic<int> g_level{int(initial_level())};

}  // namespace

void set_log_level(LogLevel level) { g_level = int(level); }
LogLevel log_level() { return LogLevel(g_level.load()); }

void log_message(LogLevel level, const std::string& msg) {
  if (int(level) > g_level.load()) return;
  static const char* kNames[] = {"error", "warn", "info", "debug"};
  std::fprintf(stderr, "dsrt %s: %s\n", kNames[int(level)], msg.c_str());
}

}  // namespace dsrt
