#include "tokenizer/reasoning.h"

namespace dsrt {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

bool is_ws(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

// Length of the longest suffix of `s` that is a proper prefix of `tag`.
size_t partial_tag_suffix(std::string_view s, std::string_view tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n)
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  return 0;
}

}  // namespace

void ReasoningParser::run(ReasoningDelta& d, bool final) {
  for (;;) {
    switch (state_) {
      case State::kStart: {
        // Leading whitespace, then maybe "<think>": wait until that is decided.
        size_t i = 0;
        while (i < buf_.size() && is_ws(buf_[i])) ++i;
        const std::string_view rest = std::string_view(buf_).substr(i);
        if (rest.size() >= kOpen.size() && rest.substr(0, kOpen.size()) == kOpen) {
          buf_.erase(0, i + kOpen.size());
          state_ = State::kAfterOpen;
          continue;
        }
        if (!final && kOpen.substr(0, rest.size()) == rest) return;  // could still be "<think>"
        state_ = in_reasoning_start_ ? State::kReasoning : State::kAnswer;
        if (in_reasoning_start_) buf_.erase(0, i);  // reasoning starts at its first character
        continue;
      }
      case State::kAfterOpen:
        if (buf_.empty() && !final) return;
        if (!buf_.empty() && buf_[0] == '\n') buf_.erase(0, 1);
        state_ = State::kReasoning;
        continue;
      case State::kReasoning: {
        const size_t p = buf_.find(kClose);
        if (p != std::string::npos) {
          size_t e = p;
          while (e > 0 && is_ws(buf_[e - 1])) --e;
          d.reasoning += buf_.substr(0, e);
          buf_.erase(0, p + kClose.size());
          state_ = State::kAnswerStart;
          continue;
        }
        // Hold back a possible partial "</think>" and the whitespace before it.
        size_t keep = final ? buf_.size() : buf_.size() - partial_tag_suffix(buf_, kClose);
        size_t e = keep;
        while (e > 0 && is_ws(buf_[e - 1])) --e;
        if (final) e = keep = buf_.size();
        d.reasoning += buf_.substr(0, e);
        buf_.erase(0, e);
        if (final) {
          // An unterminated block: drop trailing whitespace only.
          size_t t = d.reasoning.size();
          while (t > 0 && is_ws(d.reasoning[t - 1])) --t;
          d.reasoning.resize(t);
        }
        return;
      }
      case State::kAnswerStart: {
        size_t i = 0;
        while (i < buf_.size() && is_ws(buf_[i])) ++i;
        buf_.erase(0, i);
        if (buf_.empty()) return;
        state_ = State::kAnswer;
        continue;
      }
      case State::kAnswer:
        d.content += buf_;
        buf_.clear();
        return;
    }
  }
}

ReasoningDelta ReasoningParser::push(std::string_view text) {
  buf_ += text;
  ReasoningDelta d;
  run(d, false);
  return d;
}

ReasoningDelta ReasoningParser::finish() {
  ReasoningDelta d;
  run(d, true);
  buf_.clear();
  return d;
}

ReasoningSplit split_reasoning(std::string_view generated, bool starts_in_reasoning) {
  ReasoningParser p(starts_in_reasoning);
  ReasoningDelta a = p.push(generated);
  ReasoningDelta b = p.finish();
  ReasoningSplit s;
  s.reasoning = a.reasoning + b.reasoning;
  s.content = a.content + b.content;
  s.reasoning_done = p.reasoning_done();
  return s;
}

}  // namespace dsrt
