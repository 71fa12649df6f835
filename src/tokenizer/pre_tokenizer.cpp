#include "tokenizer/pre_tokenizer.h"

#include <algorithm>

namespace dsrt {

const char* const kGpt2Regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

namespace {

Result<SplitBehavior> parse_behavior(const std::string& s) {
  if (s == "Removed") return SplitBehavior::Removed;
  if (s == "Isolated") return SplitBehavior::Isolated;
  if (s == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (s == "Contiguous") return SplitBehavior::Contiguous;
  return Status::Error("unknown Split behavior \"" + s + "\"");
}

}  // namespace

Status PreTokenizer::add_split(std::string_view pattern, bool literal, SplitBehavior b,
                               bool invert) {
  DSRT_ASSIGN_OR_RETURN(Regex re, Regex::compile(pattern, literal));
  Step s;
  s.kind = Kind::Split;
  s.regex = std::make_shared<Regex>(std::move(re));
  s.behavior = b;
  s.invert = invert;
  steps_.push_back(std::move(s));
  return Status::Ok();
}

Status PreTokenizer::add(const nlohmann::json& j) {
  if (j.is_null()) return Status::Ok();
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    return Status::Error("pre_tokenizer: expected an object with a \"type\"");
  const std::string type = j["type"].get<std::string>();
  if (type == "Sequence") {
    if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array())
      return Status::Error("pre_tokenizer Sequence: missing \"pretokenizers\" array");
    for (const auto& p : j["pretokenizers"]) DSRT_RETURN_IF_ERROR(add(p));
    return Status::Ok();
  }
  if (type == "Split") {
    if (!j.contains("pattern") || !j["pattern"].is_object())
      return Status::Error("pre_tokenizer Split: missing \"pattern\"");
    const auto& p = j["pattern"];
    bool literal;
    std::string pat;
    if (p.contains("Regex") && p["Regex"].is_string()) {
      pat = p["Regex"].get<std::string>();
      literal = false;
    } else if (p.contains("String") && p["String"].is_string()) {
      pat = p["String"].get<std::string>();
      literal = true;
    } else {
      return Status::Error("pre_tokenizer Split: pattern must be {Regex} or {String}");
    }
    DSRT_ASSIGN_OR_RETURN(SplitBehavior b, parse_behavior(j.value("behavior", "Isolated")));
    return add_split(pat, literal, b, j.value("invert", false)).with_context("pre_tokenizer Split");
  }
  if (type == "ByteLevel") {
    byte_level_ = true;
    if (j.value("add_prefix_space", false)) {
      Step s;
      s.kind = Kind::ByteLevelPrefix;
      steps_.push_back(std::move(s));
    }
    if (j.value("use_regex", true))
      DSRT_RETURN_IF_ERROR(add_split(kGpt2Regex, false, SplitBehavior::Isolated, false));
    return Status::Ok();
  }
  if (type == "Digits") {
    const bool individual = j.value("individual_digits", false);
    return add_split(individual ? "\\p{N}" : "\\p{N}+", false, SplitBehavior::Isolated, false);
  }
  if (type == "Whitespace")
    return add_split("\\w+|[^\\w\\s]+", false, SplitBehavior::Removed, true);
  if (type == "WhitespaceSplit") return add_split("\\s+", false, SplitBehavior::Removed, false);
  if (type == "Punctuation") {
    DSRT_ASSIGN_OR_RETURN(SplitBehavior b, parse_behavior(j.value("behavior", "Isolated")));
    // Rust's is_ascii_punctuation() plus the Unicode P* categories.
    return add_split("[\\p{P}!-/:-@\\[-`{-~]", false, b, false);
  }
  if (type == "Metaspace") {
    Step s;
    s.kind = Kind::Metaspace;
    s.replacement = j.value("replacement", std::string("\xE2\x96\x81"));
    if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) {
      const std::string ps = j["prepend_scheme"].get<std::string>();
      s.prepend = ps == "always"  ? Prepend::Always
                  : ps == "first" ? Prepend::First
                                  : Prepend::Never;
    } else {
      s.prepend = j.value("add_prefix_space", true) ? Prepend::Always : Prepend::Never;
    }
    has_metaspace_ = true;
    metaspace_replacement_ = s.replacement;
    const bool split = j.value("split", true);
    steps_.push_back(s);
    if (split)
      DSRT_RETURN_IF_ERROR(add_split(s.replacement, true, SplitBehavior::MergedWithNext, false));
    return Status::Ok();
  }
  return Status::Error("pre_tokenizer \"" + type +
                       "\" is not supported (supported: Sequence, Split, ByteLevel, Digits, "
                       "Metaspace, Whitespace, WhitespaceSplit, Punctuation)");
}

Result<PreTokenizer> PreTokenizer::from_json(const nlohmann::json& j) {
  PreTokenizer p;
  DSRT_RETURN_IF_ERROR(p.add(j));
  return p;
}

Result<PreTokenizer> PreTokenizer::from_regexes(const std::vector<std::string>& regexes) {
  PreTokenizer p;
  for (const auto& r : regexes)
    DSRT_RETURN_IF_ERROR(p.add_split(r, false, SplitBehavior::Isolated, false));
  p.byte_level_ = true;
  return p;
}

Status PreTokenizer::split_piece(const Step& s, const Piece& p, std::vector<Piece>& out,
                                 std::vector<std::pair<size_t, size_t>>& matches) const {
  const std::string_view t = p.text;
  matches.clear();
  DSRT_RETURN_IF_ERROR(s.regex->find_all(t, &matches));
  // Segments covering the piece: (begin, end, is_match), as Hugging Face's Pattern does.
  struct Seg {
    size_t b, e;
    bool m;
  };
  std::vector<Seg> segs;
  segs.reserve(matches.size() * 2 + 1);
  size_t prev = 0;
  for (auto [b, e] : matches) {
    if (prev != b) segs.push_back({prev, b, false});
    segs.push_back({b, e, true});
    prev = e;
  }
  if (prev != t.size()) segs.push_back({prev, t.size(), false});
  if (s.invert)
    for (auto& g : segs) g.m = !g.m;

  std::vector<std::pair<size_t, size_t>> res;
  res.reserve(segs.size());
  switch (s.behavior) {
    case SplitBehavior::Isolated:
      for (const auto& g : segs) res.emplace_back(g.b, g.e);
      break;
    case SplitBehavior::Removed:
      for (const auto& g : segs)
        if (!g.m) res.emplace_back(g.b, g.e);
      break;
    case SplitBehavior::MergedWithPrevious: {
      bool prev_match = false;
      for (const auto& g : segs) {
        if (g.m && !prev_match && !res.empty())
          res.back().second = g.e;
        else
          res.emplace_back(g.b, g.e);
        prev_match = g.m;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool prev_match = false;
      for (size_t k = segs.size(); k-- > 0;) {
        const auto& g = segs[k];
        if (g.m && !prev_match && !res.empty())
          res.back().first = g.b;
        else
          res.emplace_back(g.b, g.e);
        prev_match = g.m;
      }
      std::reverse(res.begin(), res.end());
      break;
    }
    case SplitBehavior::Contiguous: {
      bool prev_match = false;
      for (const auto& g : segs) {
        if (g.m == prev_match && !res.empty())
          res.back().second = g.e;
        else
          res.emplace_back(g.b, g.e);
        prev_match = g.m;
      }
      break;
    }
  }
  for (auto [b, e] : res)
    if (e > b) out.push_back({t.substr(b, e - b), -1, p.first && b == 0});
  return Status::Ok();
}

Status PreTokenizer::apply(std::vector<Piece>& pieces, std::deque<std::string>& arena) const {
  std::vector<Piece> next;
  std::vector<std::pair<size_t, size_t>> scratch;
  for (const Step& s : steps_) {
    next.clear();
    next.reserve(pieces.size() * 2);
    for (const Piece& p : pieces) {
      if (p.id >= 0) {
        next.push_back(p);
        continue;
      }
      switch (s.kind) {
        case Kind::Split:
          DSRT_RETURN_IF_ERROR(split_piece(s, p, next, scratch));
          break;
        case Kind::ByteLevelPrefix:
          if (!p.text.empty() && p.text[0] != ' ') {
            arena.push_back(" " + std::string(p.text));
            next.push_back({arena.back(), -1, p.first});
          } else {
            next.push_back(p);
          }
          break;
        case Kind::Metaspace: {
          std::string r;
          const bool prepend =
              s.prepend == Prepend::Always || (s.prepend == Prepend::First && p.first);
          if (prepend && p.text.substr(0, s.replacement.size()) != s.replacement &&
              !(p.text.size() && p.text[0] == ' '))
            r += s.replacement;
          for (char c : p.text) {
            if (c == ' ')
              r += s.replacement;
            else
              r += c;
          }
          arena.push_back(std::move(r));
          next.push_back({arena.back(), -1, p.first});
          break;
        }
      }
    }
    pieces.swap(next);
  }
  return Status::Ok();
}

}  // namespace dsrt
