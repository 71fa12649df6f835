// Added tokens (special and user-defined) are found in the raw text before pre-tokenization,
// leftmost-longest, as Hugging Face's AddedVocabulary does, honouring single_word, lstrip and
// rstrip. A byte trie does the matching; most text never gets past the first-byte filter.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/pre_tokenizer.h"

namespace dsrt {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(const std::vector<const AddedToken*>& tokens);

  bool empty() const { return tokens_.empty(); }
  // Splits every piece with id < 0 around the added tokens it contains. `skip_special` leaves
  // special tokens as text (parse_special=false).
  void split(std::vector<Piece>& pieces, bool skip_special) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> next;  // sorted by byte
    int32_t token = -1;                             // index into tokens_
  };
  int32_t child(int32_t node, uint8_t b) const;
  void split_one(const Piece& p, bool skip_special, std::vector<Piece>& out) const;

  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_;
  bool first_byte_[256] = {};
};

}  // namespace dsrt
