// A compiled PCRE2 pattern in UTF + UCP mode (\p{L}, \s, \w follow Unicode properties, as the
// Oniguruma engine behind Hugging Face `tokenizers` does), JIT-compiled when the library
// supports it. Immutable after compile(), so one Regex may be used from many threads; each
// thread keeps its own match data and JIT stack.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace dsrt {

class Regex {
 public:
  // `literal` matches `pattern` as a plain string (a Split pre-tokenizer's {"String": ...}).
  static Result<Regex> compile(std::string_view pattern, bool literal = false);

  // Appends the [begin, end) byte ranges of all non-overlapping matches in `subject`, which
  // must be valid UTF-8. After an empty match the search resumes one character further on.
  Status find_all(std::string_view subject, std::vector<std::pair<size_t, size_t>>* out) const;

  // Whether the pattern matches at offset `at`, anchored there.
  bool matches_at(std::string_view subject, size_t at) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  std::shared_ptr<const Code> code_;
  std::string pattern_;
};

}  // namespace dsrt
