#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include "tokenizer/utf8.h"

namespace dsrt {

struct Regex::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() {
    if (code) pcre2_code_free(code);
  }
};

namespace {

// Per-thread match state: one ovector pair is enough (we never read captures; PCRE2 reports a
// too-small ovector with rc 0 and still fills in the whole-match range), and a JIT stack that
// can grow to 8 MiB so long runs of whitespace or letters do not hit the 32 KiB default.
struct ThreadState {
  pcre2_match_data* md = nullptr;
  pcre2_match_context* mctx = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  ThreadState() {
    md = pcre2_match_data_create(1, nullptr);
    mctx = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    if (mctx && jit_stack) pcre2_jit_stack_assign(mctx, nullptr, jit_stack);
  }
  ~ThreadState() {
    if (jit_stack) pcre2_jit_stack_free(jit_stack);
    if (mctx) pcre2_match_context_free(mctx);
    if (md) pcre2_match_data_free(md);
  }
};

ThreadState& thread_state() {
  thread_local ThreadState ts;
  return ts;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof(buf));
  return reinterpret_cast<const char*>(buf);
}

}  // namespace

Result<Regex> Regex::compile(std::string_view pattern, bool literal) {
  int err = 0;
  PCRE2_SIZE err_off = 0;
  // PCRE2_LITERAL refuses UCP (it has no classes to affect).
  const uint32_t opts = literal ? (PCRE2_UTF | PCRE2_LITERAL) : (PCRE2_UTF | PCRE2_UCP);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   opts, &err, &err_off, nullptr);
  if (!code)
    return Status::Error("cannot compile regex /" + std::string(pattern) + "/ at offset " +
                         std::to_string(err_off) + ": " + pcre2_message(err));
  auto c = std::make_shared<Code>();
  c->code = code;
  c->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  Regex r;
  r.code_ = std::move(c);
  r.pattern_ = std::string(pattern);
  return r;
}

Status Regex::find_all(std::string_view subject,
                       std::vector<std::pair<size_t, size_t>>* out) const {
  ThreadState& ts = thread_state();
  if (!ts.md) return Status::Error("regex: out of memory");
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  size_t pos = 0;
  while (pos <= subject.size()) {
    // Input was validated once up front, so skip PCRE2's per-call UTF check.
    const int rc =
        code_->jit
            ? pcre2_jit_match(code_->code, s, subject.size(), pos, 0, ts.md, ts.mctx)
            : pcre2_match(code_->code, s, subject.size(), pos, PCRE2_NO_UTF_CHECK, ts.md, ts.mctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) return Status::Error("regex /" + pattern_ + "/ failed: " + pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(ts.md);
    const size_t b = ov[0], e = ov[1];
    out->emplace_back(b, e);
    if (e > b) {
      pos = e;
    } else {
      if (e >= subject.size()) break;
      pos = e + utf8::seq_len(static_cast<uint8_t>(subject[e]));
    }
  }
  return Status::Ok();
}

bool Regex::matches_at(std::string_view subject, size_t at) const {
  ThreadState& ts = thread_state();
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  const int rc = pcre2_match(code_->code, s, subject.size(), at,
                             PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, ts.md, ts.mctx);
  return rc >= 0;
}

}  // namespace dsrt
