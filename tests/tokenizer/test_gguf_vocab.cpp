// Tokenizer::from_gguf on llama.cpp's vocab-only GGUF files, against their .inp/.out test
// files (test-tokenizer-0 format: inputs separated by "\n__ggml_vocab_test__\n", one line of
// space-separated ids per input, produced by Hugging Face with add_special_tokens=False).
#include <gtest/gtest.h>

#include <sstream>

#include "tok_test_util.h"

namespace dsrt::test {
namespace {

std::vector<std::string> split_inputs(const std::string& s) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t k; (k = s.find(sep, pos)) != std::string::npos; pos = k + sep.size())
    out.push_back(s.substr(pos, k - pos));
  return out;  // text after the last separator is empty in these files
}

std::vector<std::vector<int32_t>> read_outputs(const std::string& s) {
  std::vector<std::vector<int32_t>> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    int32_t id;
    while (ls >> id) ids.push_back(id);
    out.push_back(std::move(ids));
  }
  return out;
}

class GgufVocab : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufVocab, MatchesLlamaCppTestFiles) {
  if (shared_dir().empty()) GTEST_SKIP() << "../shared is absent: the GGUF vocab files live there";
  const std::string base = shared_dir() + "/data/gguf/vocab/ggml-vocab-" + GetParam() + ".gguf";
  auto tok = Tokenizer::from_gguf(base);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  const auto inputs = split_inputs(read_all(base + ".inp"));
  const auto outputs = read_outputs(read_all(base + ".out"));
  ASSERT_EQ(inputs.size(), outputs.size());
  ASSERT_GT(inputs.size(), 30u);
  int bad = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto ids = tok.value().encode(inputs[i], false, /*parse_special=*/false);
    ASSERT_TRUE(ids.ok()) << ids.status().message();
    if (ids.value() != outputs[i]) {
      ++bad;
      ADD_FAILURE() << GetParam() << " input " << i << " \"" << inputs[i] << "\"";
    }
  }
  EXPECT_EQ(bad, 0);
}

INSTANTIATE_TEST_SUITE_P(DeepSeek, GgufVocab, ::testing::Values("deepseek-llm", "deepseek-coder"));

TEST(GgufVocabErrors, NotAGgufFile) {
  auto r = Tokenizer::from_gguf(v3_dir() + "/tokenizer_config.json");
  ASSERT_FALSE(r.ok());
  auto r2 = Tokenizer::load("/nonexistent/model.gguf");
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("model.gguf"), std::string::npos);
}

}  // namespace
}  // namespace dsrt::test
