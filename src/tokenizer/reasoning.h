// Splits reasoning ("<think> ... </think>") from the answer in generated text, in one go or
// incrementally while tokens stream in. R1, R1-Distill and V3.1-thinking prompts end with
// "<think>\n" (or "<think>"), so their output starts inside the reasoning block and only the
// closing tag appears; other models may open the block themselves.
//
// The result is the same however the text is chunked: the opening tag (and one newline after
// it) and the closing tag are dropped, whitespace just before "</think>" is dropped, and the
// answer starts at its first non-whitespace character.
#pragma once

#include <string>
#include <string_view>

namespace dsrt {

struct ReasoningDelta {
  std::string reasoning;
  std::string content;
};

class ReasoningParser {
 public:
  // `starts_in_reasoning`: the prompt already opened the block (generation prompt ends with
  // <think>), so text before any </think> is reasoning.
  explicit ReasoningParser(bool starts_in_reasoning) : in_reasoning_start_(starts_in_reasoning) {}
  ReasoningDelta push(std::string_view text);
  // Emits what was held back (an unterminated reasoning block stays reasoning).
  ReasoningDelta finish();
  // True once "</think>" has been seen.
  bool reasoning_done() const { return state_ == State::kAnswerStart || state_ == State::kAnswer; }

 private:
  enum class State { kStart, kAfterOpen, kReasoning, kAnswerStart, kAnswer };
  void run(ReasoningDelta& d, bool final);
  bool in_reasoning_start_;
  State state_ = State::kStart;
  std::string buf_;
};

struct ReasoningSplit {
  std::string reasoning;
  std::string content;
  bool reasoning_done = false;  // "</think>" was present
};
ReasoningSplit split_reasoning(std::string_view generated, bool starts_in_reasoning);

}  // namespace dsrt
