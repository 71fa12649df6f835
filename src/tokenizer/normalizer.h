// Hugging Face normalizers: the subset that byte-level BPE tokenizers use. Unicode
// normalization forms and lower-casing go through ICU when the build found it; a tokenizer.json
// that asks for anything else fails at load time with the normalizer's name.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/regex.h"

namespace dsrt {

class Normalizer {
 public:
  // `j` is the tokenizer.json "normalizer" value (null is allowed and means none).
  static Result<Normalizer> from_json(const nlohmann::json& j);

  // False when the normalizer never changes its input (absent, or an empty Sequence).
  bool active() const { return !steps_.empty(); }
  Result<std::string> apply(std::string_view text) const;

 private:
  enum class Kind { NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, Replace };
  struct Step {
    Kind kind;
    bool strip_left = false, strip_right = false;
    std::string text;                // Prepend / Replace content
    std::shared_ptr<Regex> pattern;  // Replace pattern
  };
  static Status add(const nlohmann::json& j, std::vector<Step>* steps);
  std::vector<Step> steps_;
};

// True when dsrt was built with ICU (normalization forms and Lowercase available).
bool have_icu();

}  // namespace dsrt
