// Synthetic tokenizer.json files (tests/data/tokenizer/synthetic, written by make_synthetic.py)
// cover what the DeepSeek-V3 file does not: Qwen2 and Llama-3 regexes, merges stored as
// pairs, ignore_merges, a TemplateProcessing BOS, NFC, Metaspace with byte fallback, and the
// added-token flags. Byte-level ids: id(byte b) == b, merges from 256 on (see the script).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tok_test_util.h"
#include "tokenizer/normalizer.h"

namespace dsrt::test {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

std::string syn(const std::string& f) {
  return tok_data_dir() + "/synthetic/" + f;
}

Tokenizer load(const std::string& json_file, const std::string& cfg = "") {
  auto r = Tokenizer::from_files(syn(json_file), cfg.empty() ? "" : syn(cfg));
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (!r.ok()) std::abort();
  return std::move(r.value());
}

Tokenizer load_modified(const std::string& json_file, const std::function<void(json&)>& edit) {
  json j = json::parse(read_all(syn(json_file)));
  edit(j);
  auto r = Tokenizer::from_json_text(j.dump(), "");
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (!r.ok()) std::abort();
  return std::move(r.value());
}

std::vector<std::string> pre(const Tokenizer& t, const std::string& s) {
  auto r = t.pre_tokenize(s);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? r.value() : std::vector<std::string>{};
}

Ids enc(const Tokenizer& t, const std::string& s, bool bos = false) {
  auto r = t.encode(s, bos);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? r.value() : Ids{};
}

TEST(SyntheticQwen2, RegexSplitsDigitsOneByOne) {
  const Tokenizer t = load("qwen2_style.json", "qwen2_style_config.json");
  using V = std::vector<std::string>;
  EXPECT_EQ(pre(t, "Hello world's 12345!!\n\n  x"),
            (V{"Hello", " world", "'s", " ", "1", "2", "3", "4", "5", "!!\n\n", " ", " x"}));
  EXPECT_EQ(pre(t, "IT'S"), (V{"IT", "'S"}));  // (?i:'s) is case-insensitive
}

TEST(SyntheticQwen2, PairMergesAndAddedTokens) {
  const Tokenizer t = load("qwen2_style.json", "qwen2_style_config.json");
  EXPECT_EQ(t.n_vocab(), 270);
  EXPECT_EQ(enc(t, "Hello world"), (Ids{259, 264}));
  EXPECT_EQ(enc(t, "12"), (Ids{'1', '2'}));  // split before BPE, so merge "1 2" never applies
  const Ids ids = enc(t, "<|im_start|>user\nHi<|im_end|>");
  ASSERT_EQ(ids.size(), 9u);
  EXPECT_EQ(ids.front(), 268);
  EXPECT_EQ(ids.back(), 269);
  EXPECT_EQ(t.decode(ids), "<|im_start|>user\nHi<|im_end|>");
  EXPECT_EQ(t.decode(ids, /*skip_special=*/true), "user\nHi");
  EXPECT_EQ(t.bos_id(), -1);
  EXPECT_EQ(t.eos_id(), 269);
  EXPECT_FALSE(t.add_bos_default());
  EXPECT_EQ(enc(t, "Hello", /*bos=*/true), (Ids{259}));  // no BOS token: nothing to add
}

TEST(SyntheticQwen2, NfcNormalizer) {
  if (!have_icu()) GTEST_SKIP() << "built without ICU: NFC unavailable";
  const Tokenizer t = load("qwen2_style.json", "qwen2_style_config.json");
  // "e" + U+0301 COMBINING ACUTE composes to U+00E9 = C3 A9.
  EXPECT_EQ(enc(t, "e\xCC\x81"), (Ids{0xC3, 0xA9}));
}

TEST(SyntheticLlama3, DigitsInThreesIgnoreMergesAndBos) {
  const Tokenizer t = load("llama3_style.json");
  using V = std::vector<std::string>;
  EXPECT_EQ(pre(t, "12345 x"), (V{"123", "45", " x"}));
  EXPECT_EQ(enc(t, "123"), (Ids{266}));
  // " xyz" is a vocab entry no merge reaches: ignore_merges emits it whole.
  EXPECT_EQ(enc(t, " xyz"), (Ids{267}));
  EXPECT_EQ(t.bos_id(), 268);
  EXPECT_TRUE(t.add_bos_default());  // from the TemplateProcessing post-processor
  EXPECT_EQ(enc(t, "Hello world", true), (Ids{268, 259, 264}));
  const Tokenizer no_ignore =
      load_modified("llama3_style.json", [](json& j) { j["model"]["ignore_merges"] = false; });
  const Ids plain = enc(no_ignore, " xyz");
  ASSERT_EQ(plain.size(), 4u);
  EXPECT_EQ(plain[0], ' ');  // Ġ is byte 0x20, so id 32
}

TEST(SyntheticMetaspace, PrependFirstAndByteFallback) {
  const Tokenizer t = load("metaspace_style.json");
  using V = std::vector<std::string>;
  EXPECT_EQ(pre(t, "hi hi"), (V{"\xE2\x96\x81hi", "\xE2\x96\x81hi"}));
  const int32_t hi = *t.token_id("\xE2\x96\x81hi");
  EXPECT_EQ(enc(t, "hi hi"), (Ids{hi, hi}));
  // "é" has no token: byte fallback gives <0xC3><0xA9> (ids 3 + byte).
  EXPECT_EQ(enc(t, "\xC3\xA9"), (Ids{*t.token_id("\xE2\x96\x81"), 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(t.decode(enc(t, "hi hi")), "hi hi");
  EXPECT_EQ(t.decode(enc(t, "hi \xC3\xA9")), "hi \xC3\xA9");
}

TEST(SyntheticAddedTokens, LstripRstripSingleWord) {
  const Tokenizer t = load_modified("qwen2_style.json", [](json& j) {
    j["normalizer"] = nullptr;
    j["added_tokens"].push_back({{"id", 270},
                                 {"content", "<mask>"},
                                 {"single_word", false},
                                 {"lstrip", true},
                                 {"rstrip", true},
                                 {"normalized", false},
                                 {"special", true}});
    j["added_tokens"].push_back({{"id", 271},
                                 {"content", "cat"},
                                 {"single_word", true},
                                 {"lstrip", false},
                                 {"rstrip", false},
                                 {"normalized", true},
                                 {"special", false}});
  });
  // lstrip/rstrip swallow the spaces around <mask>.
  EXPECT_EQ(enc(t, "a <mask> b"), (Ids{'a', 270, 'b'}));
  // single_word: "cat" only as a whole word.
  EXPECT_EQ(enc(t, "cat"), (Ids{271}));
  const Ids concat = enc(t, "concat");
  EXPECT_EQ(std::count(concat.begin(), concat.end(), 271), 0);
  const Ids spaced = enc(t, "a cat!");
  EXPECT_EQ(std::count(spaced.begin(), spaced.end(), 271), 1);
}

TEST(SyntheticAddedTokens, LeftmostLongestMatch) {
  const Tokenizer t = load_modified("qwen2_style.json", [](json& j) {
    j["normalizer"] = nullptr;
    j["added_tokens"].push_back({{"id", 270}, {"content", "<a>"}, {"special", true}});
    j["added_tokens"].push_back({{"id", 271}, {"content", "<a><b>"}, {"special", true}});
  });
  EXPECT_EQ(enc(t, "<a><b><a>"), (Ids{271, 270}));
}

TEST(SyntheticSplit, BehavioursAndInvert) {
  auto make = [](const std::string& behavior, bool invert) {
    return load_modified("qwen2_style.json", [&](json& j) {
      j["normalizer"] = nullptr;
      j["pre_tokenizer"] = {{"type", "Split"},
                            {"pattern", {{"String", "-"}}},
                            {"behavior", behavior},
                            {"invert", invert}};
    });
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(pre(make("Isolated", false), "a-b--c"), (V{"a", "-", "b", "-", "-", "c"}));
  EXPECT_EQ(pre(make("Removed", false), "a-b--c"), (V{"a", "b", "c"}));
  EXPECT_EQ(pre(make("MergedWithPrevious", false), "a-b--c"), (V{"a-", "b-", "-", "c"}));
  EXPECT_EQ(pre(make("MergedWithNext", false), "a-b--c"), (V{"a", "-b", "-", "-c"}));
  EXPECT_EQ(pre(make("Contiguous", false), "a-b--c"), (V{"a", "-", "b", "--", "c"}));
  EXPECT_EQ(pre(make("Removed", true), "a-b--c"), (V{"-", "-", "-"}));
}

TEST(SyntheticPreTokenizers, ByteLevelRegexAndPrefixSpaceAndDigits) {
  const Tokenizer t = load_modified("qwen2_style.json", [](json& j) {
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Digits"}, {"individual_digits", true}},
          {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}}}}};
  });
  using V = std::vector<std::string>;
  // Digits splits "ab12" into "ab","1","2"; ByteLevel then prefixes a space to each split
  // (as Hugging Face does) and applies GPT-2's regex.
  EXPECT_EQ(pre(t, "ab12 cd"), (V{" ab", " 1", " 2", " cd"}));
}

TEST(SyntheticErrors, UnsupportedPieces) {
  json j = json::parse(read_all(syn("qwen2_style.json")));
  j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  auto r = Tokenizer::from_json_text(j.dump(), "", "x.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("BertPreTokenizer"), std::string::npos);
  j = json::parse(read_all(syn("qwen2_style.json")));
  j["model"]["merges"][0] = 42;
  r = Tokenizer::from_json_text(j.dump(), "", "x.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("merges[0]"), std::string::npos);
  j = json::parse(read_all(syn("qwen2_style.json")));
  r = Tokenizer::from_json_text(j.dump(), R"({"eos_token": "<|nope|>"})", "x.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("<|nope|>"), std::string::npos);
}

}  // namespace
}  // namespace dsrt::test
