// DeepSeek-V3 tokenizer against Hugging Face `tokenizers` (the vendored 60 encode cases), plus
// round trips, streaming and error handling.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tok_test_util.h"
#include "tokenizer/gguf_pre.h"

namespace dsrt::test {
namespace {

using nlohmann::json;

std::vector<json> load_cases() {
  std::vector<json> cases;
  std::ifstream f(tok_data_dir() + "/deepseek_v3_cases.jsonl");
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) cases.push_back(json::parse(line));
  return cases;
}

TEST(TokenizerV3, LoadsVocabAndSpecials) {
  const Tokenizer& tok = v3_tokenizer();
  EXPECT_EQ(tok.n_vocab(), 128815);
  EXPECT_EQ(tok.bos_id(), 0);
  EXPECT_EQ(tok.eos_id(), 1);
  ASSERT_FALSE(tok.eos_ids().empty());
  EXPECT_EQ(tok.eos_ids()[0], 1);
  EXPECT_TRUE(tok.add_bos_default());
  EXPECT_TRUE(tok.is_special(0));
  EXPECT_TRUE(tok.is_special(128000));
  EXPECT_FALSE(tok.is_special(128803));  // <｜User｜> is an added, non-special token
  EXPECT_EQ(tok.token_id("<｜User｜>").value_or(-1), 128803);
  EXPECT_EQ(tok.token_text(128804), "<｜Assistant｜>");
  EXPECT_FALSE(tok.token_id("<think>").has_value());  // not a token in the original V3
  EXPECT_FALSE(tok.chat_template().empty());
}

TEST(TokenizerV3, AllHuggingFaceCasesByteExact) {
  const Tokenizer& tok = v3_tokenizer();
  const auto cases = load_cases();
  ASSERT_EQ(cases.size(), 60u);
  int failures = 0;
  for (const json& c : cases) {
    const std::string text = c["text"];
    const bool add_bos = c["add_bos"];
    const auto want = c["ids"].get<std::vector<int32_t>>();
    auto got = tok.encode(text, add_bos);
    ASSERT_TRUE(got.ok()) << c["name"] << ": " << got.status().message();
    if (got.value() != want) {
      ++failures;
      ADD_FAILURE() << "case " << c["name"] << ": got " << json(got.value()).dump() << " want "
                    << json(want).dump();
      continue;
    }
    const auto tokens = c["tokens"].get<std::vector<std::string>>();
    ASSERT_EQ(tokens.size(), want.size());
    for (size_t i = 0; i < tokens.size(); ++i)
      EXPECT_EQ(tok.token_text(want[i]), tokens[i]) << c["name"] << " token " << i;
    // Round trip: decode(ids) == (BOS text if add_bos) + text.
    const std::string expect = (add_bos ? tok.token_text(tok.bos_id()) : "") + text;
    EXPECT_EQ(tok.decode(want), expect) << c["name"];
  }
  EXPECT_EQ(failures, 0);
}

TEST(TokenizerV3, ParseSpecialOffLeavesSpecialTokensAsText) {
  const Tokenizer& tok = v3_tokenizer();
  auto with = tok.encode("a<｜end▁of▁sentence｜>b", false, true);
  auto without = tok.encode("a<｜end▁of▁sentence｜>b", false, false);
  ASSERT_TRUE(with.ok() && without.ok());
  EXPECT_EQ(with.value().size(), 3u);
  EXPECT_EQ(with.value()[1], 1);
  EXPECT_GT(without.value().size(), 3u);
  for (int32_t id : without.value()) EXPECT_NE(id, 1);
  EXPECT_EQ(tok.decode(without.value()), "a<｜end▁of▁sentence｜>b");
  // Non-special added tokens (<｜User｜>) are still matched, as transformers does.
  auto user = tok.encode("<｜User｜>", false, false);
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user.value(), std::vector<int32_t>{128803});
}

TEST(TokenizerV3, DecodeSkipSpecial) {
  const Tokenizer& tok = v3_tokenizer();
  auto ids = tok.encode("Hello<｜end▁of▁sentence｜>", true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(tok.decode(ids.value(), true), "Hello");
  EXPECT_EQ(tok.decode(ids.value(), false), "<｜begin▁of▁sentence｜>Hello<｜end▁of▁sentence｜>");
}

TEST(TokenizerV3, InvalidUtf8IsAnError) {
  const Tokenizer& tok = v3_tokenizer();
  for (std::string bad : {std::string("abc\xff"), std::string("\xe4\xbd"), std::string("\xc0\xaf"),
                          std::string("a\xed\xa0\x80z")}) {
    auto r = tok.encode(bad, false);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("UTF-8"), std::string::npos);
  }
}

TEST(TokenizerV3, DecodeInvalidIdsAndPartialBytes) {
  const Tokenizer& tok = v3_tokenizer();
  EXPECT_EQ(tok.decode({-1, 1 << 30}), "");
  // A lone byte-level token for 0xE4 (first byte of a CJK character) decodes to U+FFFD.
  const auto id = tok.token_id("ä");  // byte 0xE4 in the byte alphabet
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(tok.decode({*id}), "\xEF\xBF\xBD");
}

TEST(StreamDecoder, NeverEmitsHalfACharacter) {
  const Tokenizer& tok = v3_tokenizer();
  const std::string text = "深度求索🥳 emoji 💪，Café, 안녕하세요 end";
  auto ids = tok.encode(text, false);
  ASSERT_TRUE(ids.ok());
  StreamDecoder sd(tok);
  std::string joined;
  bool saw_split = false;  // at least one token that is not a whole character sequence
  for (int32_t id : ids.value()) {
    const std::string& b = tok.token_bytes(id);
    if (!b.empty() && utf8_valid_prefix_len(b) != b.size()) saw_split = true;
    const std::string piece = sd.push(id);
    EXPECT_EQ(utf8_valid_prefix_len(piece), piece.size()) << "partial UTF-8 emitted";
    joined += piece;
  }
  joined += sd.flush();
  EXPECT_EQ(joined, text);
  EXPECT_TRUE(saw_split) << "test text should contain characters split across tokens";
}

TEST(StreamDecoder, MatchesOneShotDecodeOnBrokenBytes) {
  const Tokenizer& tok = v3_tokenizer();
  // Byte tokens for E4 BD (an unfinished 3-byte char), then 'A', then E4 alone at the end.
  const int32_t e4 = *tok.token_id("ä"), bd = *tok.token_id("½"), a = *tok.token_id("A");
  const std::vector<int32_t> ids = {e4, bd, a, e4};
  StreamDecoder sd(tok);
  std::string s;
  for (int32_t id : ids) s += sd.push(id);
  s += sd.flush();
  EXPECT_EQ(s, tok.decode(ids));
  EXPECT_EQ(s,
            "\xEF\xBF\xBD"
            "A"
            "\xEF\xBF\xBD");
}

TEST(TokenizerErrors, MissingAndMalformedFiles) {
  auto r1 = Tokenizer::from_dir("/nonexistent/dir");
  ASSERT_FALSE(r1.ok());
  EXPECT_NE(r1.status().message().find("/nonexistent/dir"), std::string::npos);
  auto r2 = Tokenizer::from_json_text("{not json", "", "bad.json");
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("bad.json"), std::string::npos);
  auto r3 = Tokenizer::from_json_text(R"({"model": {"type": "Unigram", "vocab": []}})", "");
  ASSERT_FALSE(r3.ok());
  EXPECT_NE(r3.status().message().find("Unigram"), std::string::npos);
  auto r4 = Tokenizer::from_json_text(
      R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})", "");
  ASSERT_FALSE(r4.ok());
  EXPECT_NE(r4.status().message().find("merge"), std::string::npos);
  auto r5 = Tokenizer::from_json_text(
      R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
          "normalizer": {"type": "Precompiled", "precompiled_charsmap": ""}})",
      "");
  ASSERT_FALSE(r5.ok());
  EXPECT_NE(r5.status().message().find("Precompiled"), std::string::npos);
  auto r6 = Tokenizer::from_json_text(
      R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
          "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"},
                            "behavior": "Isolated"}})",
      "");
  ASSERT_FALSE(r6.ok());
  EXPECT_NE(r6.status().message().find("regex"), std::string::npos);
}

TEST(GgufPre, KnownNamesCompileAndUnknownFails) {
  for (const auto& name : gguf_pre_names()) {
    auto r = gguf_pre_regexes(name);
    ASSERT_TRUE(r.ok()) << name;
    // Only the regexes matter here: they must compile in PCRE2 UTF+UCP mode.
    TokenizerParts parts;
    parts.tokens = {"a"};
    parts.pre_regexes = r.value();
    auto tok = Tokenizer::from_parts(parts);
    EXPECT_TRUE(tok.ok()) << name << ": " << tok.status().message();
  }
  auto bad = gguf_pre_regexes("tekken");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("deepseek-v3"), std::string::npos);
}

TEST(GgufPre, V3RegexesReproduceTokenizerJson) {
  // from_parts with the "deepseek-v3" regexes and the V3 vocab must tokenize like the
  // tokenizer.json (ordinary text; added tokens come from token types).
  const Tokenizer& ref = v3_tokenizer();
  json tj = json::parse(read_all(v3_dir() + "/tokenizer.json"));
  TokenizerParts parts;
  parts.tokens.resize(ref.n_vocab());
  parts.token_types.assign(ref.n_vocab(), static_cast<int32_t>(GgufTokenType::kNormal));
  for (int32_t i = 0; i < ref.n_vocab(); ++i) parts.tokens[i] = ref.token_text(i);
  for (const json& a : tj["added_tokens"])
    parts.token_types[a["id"].get<int>()] = static_cast<int32_t>(
        a["special"].get<bool>() ? GgufTokenType::kControl : GgufTokenType::kUserDefined);
  for (const json& m : tj["model"]["merges"]) parts.merges.push_back(m.get<std::string>());
  parts.pre_regexes = gguf_pre_regexes("deepseek-v3").value();
  parts.bos_id = 0;
  parts.eos_id = 1;
  parts.add_bos = true;
  auto tok = Tokenizer::from_parts(parts);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  for (const json& c : load_cases()) {
    auto a = tok.value().encode(c["text"].get<std::string>(), c["add_bos"].get<bool>());
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a.value(), c["ids"].get<std::vector<int32_t>>()) << c["name"];
  }
}

}  // namespace
}  // namespace dsrt::test
