// Shared helpers for the tokenizer tests: the vendored DeepSeek-V3 tokenizer, loaded once.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace dsrt::test {

inline std::string v3_dir() {
  return repo_dir() + "/assets/tokenizer/deepseek_v3";
}
inline std::string tok_data_dir() {
  return vendored_dir() + "/tokenizer";
}

inline const Tokenizer& v3_tokenizer() {
  static const Tokenizer* tok = [] {
    auto r = Tokenizer::from_dir(v3_dir());
    if (!r.ok()) {
      ADD_FAILURE() << r.status().message();
      std::abort();
    }
    return new Tokenizer(std::move(r.value()));
  }();
  return *tok;
}

// Length of the longest valid UTF-8 prefix of `s`.
inline size_t utf8_valid_prefix_len(const std::string& s) {
  const size_t bad = utf8::find_invalid(s);
  return bad == std::string::npos ? s.size() : bad;
}

inline std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace dsrt::test
