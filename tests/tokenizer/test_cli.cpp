// Drives `dsrt tokenize / detokenize / chat-render` the way a user does, through the binary.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tok_test_util.h"

namespace dsrt::test {
namespace {

using nlohmann::json;

struct CliRun {
  int rc = -1;
  bool exited = false;  // false: killed by a signal (a crash)
  std::string out;      // stdout and stderr together
};

std::string q(const std::string& s) {  // single-quote for /bin/sh
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}

CliRun run(const std::string& args) {
  CliRun r;
  const std::string cmd = q(dsrt_binary()) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.exited = WIFEXITED(st);
  r.rc = r.exited ? WEXITSTATUS(st) : -1;
  return r;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(dsrt_binary()))
      GTEST_SKIP() << "dsrt binary not built at " << dsrt_binary();
    tmp_ = std::filesystem::temp_directory_path() / ("dsrt_tok_cli_" + std::to_string(::getpid()));
    std::filesystem::create_directories(tmp_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!tmp_.empty()) std::filesystem::remove_all(tmp_, ec);
  }
  std::string write(const std::string& name, const std::string& content) {
    const auto p = tmp_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  std::filesystem::path tmp_;
};

TEST_F(Cli, TokenizeMatchesHuggingFace) {
  auto r = run("tokenize --model " + q(v3_dir()) + " --text " + q("Hello, my dog is cute"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out, "[19923,14,1026,6397,344,33125]\n");
  auto b = run("tokenize -m " + q(v3_dir()) + " --text " + q("你好，世界") + " --add-bos");
  ASSERT_EQ(b.rc, 0) << b.out;
  EXPECT_EQ(json::parse(b.out)[0], 0);
  // --text-file with a multi-line, multi-script text; a checkpoint-style folder path works
  // as well as the tokenizer.json itself.
  const std::string text = "def f(x):\n    return x  # 注释\n";
  const auto f = write("in.txt", text);
  auto a = run("tokenize -m " + q(v3_dir()) + " --text-file " + q(f));
  auto c = run("tokenize -m " + q(v3_dir() + "/tokenizer.json") + " --text-file " + q(f));
  ASSERT_EQ(a.rc, 0) << a.out;
  EXPECT_EQ(a.out, c.out);
  EXPECT_EQ(json::parse(a.out).get<std::vector<int32_t>>(),
            v3_tokenizer().encode(text, false).value());
}

TEST_F(Cli, DetokenizeRoundTrip) {
  auto r = run("detokenize -m " + q(v3_dir()) + " --ids 0,19923,14,1026,6397,344,33125");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out, "<｜begin▁of▁sentence｜>Hello, my dog is cute\n");
  auto s = run("detokenize -m " + q(v3_dir()) + " --ids 0,19923 --skip-special");
  EXPECT_EQ(s.out, "Hello\n");
}

TEST_F(Cli, ChatRenderV3) {
  const json doc = json::parse(read_all(tok_data_dir() + "/deepseek_v3_chat_cases.json"));
  for (const json& c : doc["cases"]) {
    const auto f = write("msgs.json", c["messages"].dump());
    const std::string gen = c["add_generation_prompt"].get<bool>() ? "" : " --no-generation-prompt";
    auto r = run("chat-render -m " + q(v3_dir()) + " --messages " + q(f) + gen);
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_EQ(r.out, c["rendered"].get<std::string>() + "\n") << c["name"];
    auto ids = run("chat-render -m " + q(v3_dir()) + " --messages " + q(f) + gen + " --ids");
    ASSERT_EQ(ids.rc, 0) << ids.out;
    EXPECT_EQ(json::parse(ids.out), c["ids"]) << c["name"];
  }
  const auto f = write("m.json", R"([{"role": "user", "content": "Hi"}])");
  auto r1 =
      run("chat-render -m " + q(v3_dir()) + " --messages " + q(f) + " --template deepseek-r1");
  EXPECT_EQ(r1.out, "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜><think>\n\n");
  auto bad = run("chat-render -m " + q(v3_dir()) + " --messages " + q(f) + " --template chatml");
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.out.find("deepseek-v3.1"), std::string::npos) << bad.out;
}

TEST_F(Cli, BadInputFailsCleanly) {
  struct Case {
    std::string args, needle;
  };
  const std::string m = " -m " + q(v3_dir());
  const auto bad_utf8 = write("bad.txt", "ok\xff");
  const auto broken_dir = write("broken/tokenizer.json", "{\"model\": ");
  const auto no_tok_dir = write("empty/config.json", "{}");
  const auto bad_msgs = write("bad_msgs.json", "[{\"content\": \"no role\"}]");
  const std::vector<Case> cases = {
      {"tokenize -m /nonexistent/model --text hi", "/nonexistent/model"},
      {"tokenize -m " + q(std::filesystem::path(broken_dir).parent_path().string()) + " --text hi",
       "not a valid JSON"},
      {"tokenize -m " + q(std::filesystem::path(no_tok_dir).parent_path().string()) + " --text hi",
       "no tokenizer.json"},
      {"tokenize" + m + " --text-file " + q(bad_utf8), "UTF-8"},
      {"tokenize" + m + " --text-file /nonexistent/in.txt", "/nonexistent/in.txt"},
      {"tokenize" + m, "--text"},
      {"tokenize" + m + " --text a --text-file b", "excludes"},
      {"tokenize" + m + " --text a --frobnicate", "frobnicate"},
      {"detokenize" + m + " --ids 1,two,3", "two"},
      {"detokenize" + m + " --ids 128815", "out of range"},
      {"detokenize" + m + " --ids -5", "-5"},
      {"detokenize" + m + " --ids ''", "ids"},
      {"chat-render" + m + " --messages " + q(bad_msgs), "role"},
  };
  for (const Case& c : cases) {
    const CliRun r = run(c.args);
    EXPECT_TRUE(r.exited) << c.args << " crashed";
    EXPECT_NE(r.rc, 0) << c.args;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << c.args << " printed: " << r.out;
  }
}

TEST_F(Cli, GgufModel) {
  if (shared_dir().empty()) GTEST_SKIP() << "../shared is absent: the GGUF vocab files live there";
  const std::string g = shared_dir() + "/data/gguf/vocab/ggml-vocab-deepseek-llm.gguf";
  auto r = run("tokenize -m " + q(g) + " --text " + q("Hello world"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out, "[17464,1843]\n");  // from ggml-vocab-deepseek-llm.gguf.out
}

}  // namespace
}  // namespace dsrt::test
