#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace dsrt {
namespace {

// \w in Unicode mode, for single_word boundaries (Hugging Face uses is_alphanumeric || '_').
bool is_word_char_at(std::string_view s, size_t at) {
  static const Result<Regex> re = Regex::compile("[\\p{L}\\p{N}_]");
  return re.ok() && re.value().matches_at(s, at);
}

size_t prev_char_start(std::string_view s, size_t end) {
  size_t i = end - 1;
  while (i > 0 && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<const AddedToken*>& tokens) {
  nodes_.emplace_back();
  for (const AddedToken* t : tokens) {
    if (t->content.empty()) continue;
    tokens_.push_back(*t);
    int32_t n = 0;
    for (char c : t->content) {
      const uint8_t b = static_cast<uint8_t>(c);
      int32_t k = child(n, b);
      if (k < 0) {
        k = static_cast<int32_t>(nodes_.size());
        nodes_.emplace_back();
        auto& nx = nodes_[n].next;
        nx.insert(std::lower_bound(nx.begin(), nx.end(), std::make_pair(b, int32_t{-1})), {b, k});
      }
      n = k;
    }
    if (nodes_[n].token < 0) nodes_[n].token = static_cast<int32_t>(tokens_.size() - 1);
    first_byte_[static_cast<uint8_t>(t->content[0])] = true;
  }
}

int32_t AddedTokenMatcher::child(int32_t node, uint8_t b) const {
  const auto& nx = nodes_[node].next;
  auto it = std::lower_bound(nx.begin(), nx.end(), std::make_pair(b, int32_t{-1}));
  return it != nx.end() && it->first == b ? it->second : -1;
}

void AddedTokenMatcher::split_one(const Piece& p, bool skip_special,
                                  std::vector<Piece>& out) const {
  const std::string_view s = p.text;
  size_t emitted = 0;  // s[..emitted) is already in `out`
  size_t i = 0;
  while (i < s.size()) {
    if (!first_byte_[static_cast<uint8_t>(s[i])]) {
      ++i;
      continue;
    }
    // Longest acceptable token starting at i.
    int32_t best = -1;
    size_t best_end = 0;
    int32_t n = 0;
    for (size_t k = i; k < s.size(); ++k) {
      n = child(n, static_cast<uint8_t>(s[k]));
      if (n < 0) break;
      const int32_t t = nodes_[n].token;
      if (t >= 0 && !(skip_special && tokens_[t].special)) {
        best = t;
        best_end = k + 1;
      }
    }
    if (best < 0) {
      ++i;
      continue;
    }
    const AddedToken& tok = tokens_[best];
    size_t start = i, stop = best_end;
    if (tok.single_word) {
      const bool start_ok = start == 0 || !is_word_char_at(s, prev_char_start(s, start));
      const bool stop_ok = stop == s.size() || !is_word_char_at(s, stop);
      if (!start_ok || !stop_ok) {
        ++i;
        continue;
      }
    }
    if (tok.lstrip) {
      while (start > emitted) {
        const size_t c = prev_char_start(s, start);
        size_t q = c;
        if (!utf8::is_whitespace(utf8::decode_at(s, q))) break;
        start = c;
      }
    }
    if (tok.rstrip) {
      while (stop < s.size()) {
        size_t q = stop;
        if (!utf8::is_whitespace(utf8::decode_at(s, q))) break;
        stop = q;
      }
    }
    if (start > emitted)
      out.push_back({s.substr(emitted, start - emitted), -1, p.first && emitted == 0});
    out.push_back({s.substr(start, stop - start), tok.id, false});
    emitted = stop;
    i = stop;
  }
  if (emitted < s.size()) out.push_back({s.substr(emitted), -1, p.first && emitted == 0});
}

void AddedTokenMatcher::split(std::vector<Piece>& pieces, bool skip_special) const {
  if (tokens_.empty()) return;
  std::vector<Piece> out;
  out.reserve(pieces.size() + 8);
  for (const Piece& p : pieces) {
    if (p.id >= 0)
      out.push_back(p);
    else
      split_one(p, skip_special, out);
  }
  pieces.swap(out);
}

}  // namespace dsrt
