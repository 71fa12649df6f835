// StopChecker: decides when generation ends and which text may be shown so far.
//
// Stop strings may span token boundaries ("\n\nUser" can arrive as "\n", "\nUs", "er"), so the
// checker holds back any tail of the text that could still grow into a stop string and emits
// it only once it cannot. The stop string itself, and anything after it, is never emitted.
// Matching is on bytes, so a stop string may also end or start inside a multi-byte character.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dsrt {

struct StopParams {
  std::vector<int32_t> eos_ids;           // tokens that end generation; their text is not emitted
  int max_tokens = 0;                     // 0 = no limit
  std::vector<std::string> stop_strings;  // must be non-empty strings
};

struct StopResult {
  std::string text_to_emit;  // text that is now final, possibly empty
  bool stopped = false;
  std::string reason;  // "stop" | "length" | "eos" when stopped, else ""
};

class StopChecker {
 public:
  static Result<StopChecker> create(StopParams params);

  // Feeds one generated token and its decoded text. Once stopped, further calls return
  // {"", true, reason} and change nothing.
  StopResult feed(int32_t token, std::string_view piece);

  // Ends generation from outside (client gone, context full): flushes the held-back text.
  // `stopped` and `reason` report a stop that already happened, else false / "".
  StopResult finish();

  void reset();

  int n_tokens() const { return n_tokens_; }
  bool stopped() const { return stopped_; }

 private:
  explicit StopChecker(StopParams params);

  // Length of the longest suffix of held_ that is a proper prefix of some stop string.
  size_t longest_partial() const;
  StopResult stop(std::string text, const char* reason);

  StopParams params_;
  std::string held_;  // received but not yet emitted
  int n_tokens_ = 0;
  bool stopped_ = false;
  std::string reason_;
};

}  // namespace dsrt
