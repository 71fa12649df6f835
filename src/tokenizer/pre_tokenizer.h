// The pre-tokenizer chain of a tokenizer.json (Sequence of Split / ByteLevel / Digits /
// Metaspace / Whitespace / Punctuation), applied to the pieces of text that are not added
// tokens. Pieces are views: into the caller's input, or into an arena for the few steps that
// rewrite text (a ByteLevel prefix space, Metaspace's '▁').
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/regex.h"

namespace dsrt {

struct Piece {
  std::string_view text;
  int32_t id = -1;     // >= 0: an added token, already final
  bool first = false;  // starts at offset 0 of the input (Metaspace prepend_scheme "first")
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

class PreTokenizer {
 public:
  // `j` is the tokenizer.json "pre_tokenizer" value (null means none).
  static Result<PreTokenizer> from_json(const nlohmann::json& j);
  // One Isolated Split per regex, then ByteLevel without its own regex: the shape of every
  // byte-level BPE pre-tokenizer that llama.cpp stores as a `tokenizer.ggml.pre` name.
  static Result<PreTokenizer> from_regexes(const std::vector<std::string>& regexes);

  // Splits, in place, every piece whose id < 0.
  Status apply(std::vector<Piece>& pieces, std::deque<std::string>& arena) const;

  // Whether a ByteLevel step is present (then the BPE model works on the byte alphabet).
  bool byte_level() const { return byte_level_; }
  // Metaspace settings, for the decoder.
  bool has_metaspace() const { return has_metaspace_; }
  const std::string& metaspace_replacement() const { return metaspace_replacement_; }

 private:
  enum class Kind { Split, ByteLevelPrefix, Metaspace };
  enum class Prepend { Always, First, Never };
  struct Step {
    Kind kind = Kind::Split;
    std::shared_ptr<Regex> regex;
    SplitBehavior behavior = SplitBehavior::Isolated;
    bool invert = false;
    std::string replacement;  // Metaspace
    Prepend prepend = Prepend::Always;
  };
  Status add(const nlohmann::json& j);
  Status add_split(std::string_view pattern, bool literal, SplitBehavior b, bool invert);
  Status split_piece(const Step& s, const Piece& p, std::vector<Piece>& out,
                     std::vector<std::pair<size_t, size_t>>& scratch) const;

  std::vector<Step> steps_;
  bool byte_level_ = false;
  bool has_metaspace_ = false;
  std::string metaspace_replacement_;
};

// GPT-2's pre-tokenizer regex, used by ByteLevel with use_regex=true.
extern const char* const kGpt2Regex;

}  // namespace dsrt
