// `dsrt logits` / `dsrt info` driven as a user drives them: the oracle's decode layout through
// the CLI, and clear errors with a non-zero exit for bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace dsrt {
namespace {

using nlohmann::json;

std::string run(const std::string& cmd, int* rc) {  // stdout and stderr together
  return test::run_command(cmd + " 2>&1", rc);
}

const std::string kCkpt = test::vendored_dir() + "/oracle/v3-tiny-fp8";

TEST(Cli, LogitsDecodeLayoutMatchesOracle) {
  std::ifstream in(kCkpt + "/cases.json");
  const json cs = json::parse(in)["cases"][2];  // the 70-token case
  std::string toks;
  for (const auto& t : cs["tokens"]) toks += (toks.empty() ? "" : ",") + std::to_string(t.get<int>());
  const int K = cs["decode"]["prefill_len"].get<int>();
  for (const char* attn : {"naive", "absorb"}) {
    std::string cmd = test::dsrt_binary() + " logits --model " + kCkpt + " --tokens " + toks +
                      " --prefill-len " + std::to_string(K) + " --attn " + attn + " 2>/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ASSERT_EQ(pclose(p), 0);
    const json got = json::parse(out);
    const json& want = cs["decode"];
    ASSERT_EQ(got["rows"].size(), want["positions"].size());
    double worst = 0;
    for (size_t i = 0; i < got["rows"].size(); ++i) {
      EXPECT_EQ(got["rows"][i]["pos"], want["positions"][i]);
      for (size_t j = 0; j < want["logits"][i].size(); ++j)
        worst = std::max(worst, std::fabs(got["rows"][i]["logits"][j].get<double>() -
                                          want["logits"][i][j].get<double>()));
    }
    // Same bound as the in-process oracle test (see test_oracle.cpp for the reason).
    EXPECT_LE(worst / cs["max_abs_logit"].get<double>(), 1e-4) << attn;
  }
}

TEST(Cli, BadInputGivesClearErrors) {
  int rc;
  const std::string d = test::dsrt_binary();
  struct Case {
    std::string args, needle;
  } cases[] = {
      {"logits --model " + kCkpt + " --tokens 1,2,5000", "outside the vocabulary"},
      {"logits --model " + kCkpt + " --tokens ''", "empty id list"},
      {"logits --model " + kCkpt + " --tokens 1,x", "'x' is not a valid token id"},
      {"logits --model " + kCkpt + " --tokens 1,2 --prefill-len 3", "--prefill-len"},
      {"logits --model " + kCkpt + " --tokens 1 --attn fast", "attn"},
      {"logits --model /no/such/dir --tokens 1", "does not exist"},
      {"logits --model " + kCkpt + " --tokens 1 --frobnicate", "--frobnicate"},
      {"info --model " + test::repo_dir() + "/tests", "config.json"},
      {"test-ops --op nosuchop", "unknown op"},
  };
  for (const Case& c : cases) {
    const std::string out = run(d + " " + c.args, &rc);
    EXPECT_NE(rc, 0) << c.args;
    EXPECT_NE(out.find(c.needle), std::string::npos) << c.args << "\n" << out;
  }
}

TEST(Cli, InfoReportsMlaCache) {
  int rc;
  const std::string out = run(test::dsrt_binary() + " info --json --model " + kCkpt, &rc);
  ASSERT_EQ(rc, 0) << out;
  const json j = json::parse(out);
  EXPECT_EQ(j["architecture"], "deepseek_v3");
  EXPECT_EQ(j["kv_cache_bytes_per_token"], 4 * 4 * (64 + 16));  // layers * (r + rope) * f32
  EXPECT_GT(j["n_params"].get<int64_t>(), 4000000);
}

// `dsrt bench -o json` keeps llama-bench's field names so tools that read its results read ours.
TEST(Cli, BenchJsonHasLlamaBenchFields) {
  int rc;
  std::string out = run(test::dsrt_binary() + " bench -m " + kCkpt + " -p 8 -n 4 -t 1 -r 1 -o json 2>/dev/null", &rc);
  ASSERT_EQ(rc, 0) << out;
  const json j = json::parse(out.substr(out.find('[')));
  ASSERT_EQ(j.size(), 2u);
  for (const char* k : {"model_filename", "model_size", "model_n_params", "n_threads", "n_prompt", "n_gen",
                        "avg_ts", "stddev_ts", "avg_ns", "samples_ts"})
    EXPECT_TRUE(j[0].contains(k)) << k;
  EXPECT_EQ(j[0]["n_prompt"], 8);
  EXPECT_EQ(j[1]["n_gen"], 4);
  EXPECT_GT(j[1]["avg_ts"].get<double>(), 0);
  EXPECT_TRUE(j[1].contains("dsrt_bw_fraction"));
  // The read probe runs before each of the -r repetitions and after the last.
  ASSERT_TRUE(j[1].contains("dsrt_read_bw_during_gbs"));
  EXPECT_EQ(j[1]["dsrt_read_bw_during_gbs"].size(), 2u);
  EXPECT_GT(j[1]["dsrt_read_bw_gbs"].get<double>(), 0);
  EXPECT_EQ(j[0]["n_depth"], 0);
  // -d: the same tests after 20 cached context tokens, labelled like llama-bench's rows.
  out = run(test::dsrt_binary() + " bench -m " + kCkpt + " -p 8 -n 4 -d 20 -t 1 -r 1 -o json 2>/dev/null", &rc);
  ASSERT_EQ(rc, 0) << out;
  const json jd = json::parse(out.substr(out.find('[')));
  ASSERT_EQ(jd.size(), 2u);
  EXPECT_EQ(jd[0]["n_depth"], 20);
  EXPECT_GT(jd[1]["avg_ts"].get<double>(), 0);
  out = run(test::dsrt_binary() + " bench -m " + kCkpt + " -p 8 -n 4 -d 20 -t 1 -r 1 2>/dev/null", &rc);
  EXPECT_NE(out.find("tg4 @ d20"), std::string::npos) << out;
  // A depth (or prompt) beyond the model's context is refused up front, not allocated.
  out = run(test::dsrt_binary() + " bench -m " + kCkpt + " -p 0 -n 4 -d 1000000 -r 1", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("context of"), std::string::npos) << out;
  out = run(test::dsrt_binary() + " bench -m " + kCkpt + " -t 0", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("thread counts"), std::string::npos) << out;
  out = run(test::dsrt_binary() + " bench -m " + kCkpt + " -p 1 -n 1 -r 1 --peer-bench /bin/false", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("--peer-bench"), std::string::npos) << out;
}

}  // namespace
}  // namespace dsrt
