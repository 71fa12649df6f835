// `dsrt make-demo`, `dsrt run` and `dsrt chat` driven through the binary as a user would, on
// the embedded demo model (random weights: the tests check mechanics and determinism, not
// text quality).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace dsrt {
namespace {

namespace fs = std::filesystem;

struct Out {
  int rc;
  std::string out;
};

Out run(const std::string& cmd) {
  Out o;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) o.out.append(buf, n);
  o.rc = pclose(p);
  return o;
}

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

const std::string& demo_dir() {
  static const std::string dir = [] {
    const std::string d = test::binary_dir() + "/test-demo-v3";
    if (!fs::exists(d + "/config.json")) {
      Out o = run(test::dsrt_binary() + " make-demo --out " + d + " 2>&1");
      EXPECT_EQ(o.rc, 0) << o.out;
    }
    return d;
  }();
  return dir;
}

std::string dsrt() { return test::dsrt_binary(); }

TEST(Run, DemoModelIsDeterministic) {
  const std::string other = test::binary_dir() + "/test-demo-v3-again";
  Out o = run(dsrt() + " make-demo --out " + other + " 2>&1");
  ASSERT_EQ(o.rc, 0) << o.out;
  EXPECT_TRUE(slurp(demo_dir() + "/model.safetensors") == slurp(other + "/model.safetensors"));
  fs::remove_all(other);
}

TEST(Run, SameSeedSameTextAndSummary) {
  const std::string cmd = dsrt() + " run -m " + demo_dir() +
                          " -p 'Hello, DeepSeek! 你好' -n 12 --temp 0.9 --seed 7 -t 2";
  Out a = run(cmd + " 2>/dev/null"), b = run(cmd + " 2>/dev/null");
  ASSERT_EQ(a.rc, 0);
  EXPECT_FALSE(a.out.empty());
  EXPECT_EQ(a.out, b.out);
  Out c = run(dsrt() + " run -m " + demo_dir() + " -p 'Hello, DeepSeek! 你好' -n 12 --temp 0.9 --seed 8 2>/dev/null");
  EXPECT_NE(a.out, c.out);
  Out s = run(cmd + " 2>&1 >/dev/null");
  EXPECT_NE(s.out.find("generated 12 tokens (length)"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("decode"), std::string::npos);
}

TEST(Run, ChatTemplateAndGreedy) {
  const std::string cmd = dsrt() + " run -m " + demo_dir() + " --chat -p 'What is 2+2?' -n 6 --temp 0";
  Out a = run(cmd + " 2>&1"), b = run(cmd + " 2>&1");
  ASSERT_EQ(a.rc, 0) << a.out;
  EXPECT_EQ(a.out.substr(0, a.out.find("prefill")), b.out.substr(0, b.out.find("prefill")));
  // The V3 template wraps the prompt: BOS + <｜User｜> ... <｜Assistant｜> = more than 6 tokens.
  EXPECT_NE(a.out.find("prompt 1"), std::string::npos) << a.out;
}

TEST(Run, BadInput) {
  const std::string d = demo_dir();
  const std::string bad_utf8 = test::binary_dir() + "/bad_utf8.txt";
  { std::ofstream(bad_utf8, std::ios::binary) << "abc\xff\xfe"; }
  struct Case {
    std::string args, needle;
  } cases[] = {
      {"run -m " + d + " -p ''", "prompt is empty"},
      {"run -m " + d + " -f " + bad_utf8, "UTF-8"},
      {"run -m " + d + " -f /no/such/file", "/no/such/file"},
      {"run -m " + d + " -p hi --temp -1", "temp"},
      {"run -m " + d + " -p hi --bogus", "--bogus"},
      {"run -m " + d + " -p hi --chat --chat-template nosuch", "nosuch"},
      {"run -m " + test::vendored_dir() + "/oracle/v3-tiny-fp8 -p hi", "tokenizer"},
      {"run -m /no/such/model -p hi", "does not exist"},
  };
  for (const Case& c : cases) {
    Out o = run(dsrt() + " " + c.args + " 2>&1");
    EXPECT_NE(o.rc, 0) << c.args;
    EXPECT_NE(o.out.find(c.needle), std::string::npos) << c.args << "\n" << o.out;
  }
}

TEST(Run, ChatWithoutTemplateFailsClearly) {
  const std::string d = test::binary_dir() + "/demo-no-template";
  fs::remove_all(d);
  fs::create_directories(d);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"})
    fs::create_symlink(fs::absolute(demo_dir() + "/" + f), d + "/" + f);
  nlohmann::json cfg = nlohmann::json::parse(slurp(demo_dir() + "/tokenizer_config.json"));
  cfg.erase("chat_template");
  { std::ofstream(d + "/tokenizer_config.json") << cfg.dump(); }
  Out o = run(dsrt() + " run -m " + d + " --chat -p hi -n 2 2>&1");
  EXPECT_NE(o.rc, 0);
  EXPECT_NE(o.out.find("--chat-template"), std::string::npos) << o.out;
  Out ok = run(dsrt() + " run -m " + d + " --chat --chat-template deepseek-v3 -p hi -n 2 2>&1");
  EXPECT_EQ(ok.rc, 0) << ok.out;
}

// `dsrt perplexity`: a model against itself has zero KL divergence and full top-1 agreement;
// short texts and missing files are clear errors.
TEST(Perplexity, SelfKldIsZeroAndErrorsAreClear) {
  const std::string text = test::binary_dir() + "/ppl_text.txt";
  {
    std::ofstream f(text);
    for (int i = 0; i < 40; ++i) f << "The quick brown fox jumps over the lazy dog " << i << ". 你好，世界！\n";
  }
  Out o = run(dsrt() + " perplexity -m " + demo_dir() + " -f " + text + " -c 64 --chunks 2 --kl-base " +
              demo_dir() + " -o json 2>/dev/null");
  ASSERT_EQ(o.rc, 0) << o.out;
  const auto j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j["n_chunks"], 2);
  EXPECT_EQ(j["n_scored"], 2 * 31);  // positions 32..62 of each 64-token chunk
  EXPECT_GT(j["ppl"].get<double>(), 1.0);
  EXPECT_TRUE(std::isfinite(j["ppl"].get<double>()));
  EXPECT_EQ(j["kld_mean"].get<double>(), 0.0);
  EXPECT_EQ(j["top1_agree"].get<double>(), 1.0);
  Out e1 = run(dsrt() + " perplexity -m " + demo_dir() + " -f " + text + " -c 100000 2>&1");
  EXPECT_NE(e1.rc, 0);
  EXPECT_NE(e1.out.find("at least"), std::string::npos) << e1.out;
  Out e2 = run(dsrt() + " perplexity -m " + demo_dir() + " -f /no/such.txt 2>&1");
  EXPECT_NE(e2.rc, 0);
  EXPECT_NE(e2.out.find("/no/such.txt"), std::string::npos) << e2.out;
}

TEST(Chat, MultiTurnResetAndExit) {
  Out o = run("printf 'Hello\\nHow are you?\\n/reset\\nAgain\\n/exit\\nnever read\\n' | " + dsrt() +
              " chat -m " + demo_dir() + " -n 4 --seed 1 2>&1");
  ASSERT_EQ(o.rc, 0) << o.out;
  EXPECT_NE(o.out.find("(conversation cleared)"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("deepseek-v3"), std::string::npos) << o.out;
}

}  // namespace
}  // namespace dsrt
