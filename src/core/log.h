// Minimal leveled logging to stderr. The level is process-wide configuration set once by the
// CLI (--verbose / DSRT_LOG), not a device or model global.
#pragma once

#include <cstdio>
#include <string>

namespace dsrt {

enum class LogLevel { Error = 0, Warn = 1, Info = 2, Debug = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
void log_message(LogLevel level, const std::string& msg);

inline void log_error(const std::string& m) { log_message(LogLevel::Error, m); }
inline void log_warn(const std::string& m) { log_message(LogLevel::Warn, m); }
inline void log_info(const std::string& m) { log_message(LogLevel::Info, m); }
inline void log_debug(const std::string& m) { log_message(LogLevel::Debug, m); }

}  // namespace dsrt
