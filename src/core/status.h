// Status / Result<T>: the error values every user- or file-facing function returns.
// Nothing from outside the process (files, flags, requests) may throw or abort; it comes back
// as a Status whose message names the file, key or tensor that is wrong.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace dsrt {

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  static Status Ok() { return Status(); }
  static Status Error(std::string msg) {
    Status s;
    s.ok_ = false;
    s.msg_ = std::move(msg);
    return s;
  }
  bool ok() const { return ok_; }
  const std::string& message() const { return msg_; }
  // Prefixes context ("loading foo.safetensors: ") to an error; OK stays OK.
  Status with_context(const std::string& ctx) const {
    if (ok_) return *this;
    return Error(ctx + ": " + msg_);
  }

 private:
  bool ok_ = true;
  std::string msg_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {
    if (std::get<Status>(v_).ok()) v_ = Status::Error("internal: Result built from OK status");
  }
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }

 private:
  std::variant<T, Status> v_;
};

// Always-on check for internal invariants (not for user input): prints and aborts.
[[noreturn]] inline void check_failed(const char* cond, const char* file, int line,
                                      const std::string& msg) {
  std::fprintf(stderr, "dsrt: internal check failed: %s at %s:%d %s\n", cond, file, line,
               msg.c_str());
  std::abort();
}

}  // namespace dsrt

#define DSRT_CHECK(cond)                                              \
  do {                                                                \
    if (!(cond)) ::dsrt::check_failed(#cond, __FILE__, __LINE__, ""); \
  } while (0)
#define DSRT_CHECK_MSG(cond, msg)                                        \
  do {                                                                   \
    if (!(cond)) ::dsrt::check_failed(#cond, __FILE__, __LINE__, (msg)); \
  } while (0)

#define DSRT_CONCAT_INNER(a, b) a##b
#define DSRT_CONCAT(a, b) DSRT_CONCAT_INNER(a, b)

#define DSRT_RETURN_IF_ERROR(expr)           \
  do {                                       \
    ::dsrt::Status _st = (expr);             \
    if (!_st.ok()) return _st;               \
  } while (0)

#define DSRT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()

#define DSRT_ASSIGN_OR_RETURN(lhs, expr) \
  DSRT_ASSIGN_OR_RETURN_IMPL(DSRT_CONCAT(_res_, __LINE__), lhs, expr)
