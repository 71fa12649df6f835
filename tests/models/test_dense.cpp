// Dense Qwen2 / Llama (the R1-Distill architectures) against an independent numpy reference
// (tests/scripts/dense_ref.py, float64, written from HF's published architectures) on small
// random checkpoints the test writes. Driven through the CLI (`dsrt logits`) as a user would.
// Tolerance 1e-4 of max |logit|: our float32 arithmetic vs float64 differs by ~1e-6 relative,
// while a wrong RoPE layout, GQA mapping, bias or llama3 band moves logits by > 1e-2.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace dsrt {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const char* kPython = "/usr/bin/python3";

std::string run(const std::string& cmd, int* rc) { return test::run_command(cmd, rc); }

bool have_numpy() {
  int rc;
  run(std::string(kPython) + " -c 'import numpy' 2>/dev/null", &rc);
  return rc == 0;
}

struct Variant {
  std::string name, make_args;
};

class DenseTest : public ::testing::TestWithParam<Variant> {};

TEST_P(DenseTest, MatchesNumpyReference) {
  if (!have_numpy()) GTEST_SKIP() << "Debian's /usr/bin/python3 with numpy is needed (apt-get install python3-numpy)";
  const Variant& v = GetParam();
  const std::string dir = (fs::temp_directory_path() / ("dsrt_dense_" + v.name + "_" + std::to_string(::getpid()))).string();
  const std::string ref = test::repo_dir() + "/tests/scripts/dense_ref.py";
  int rc;
  run(std::string(kPython) + " " + ref + " make --out " + dir + " " + v.make_args, &rc);
  ASSERT_EQ(rc, 0) << "dense_ref.py make failed";
  std::string toks;
  for (int i = 0; i < 40; ++i) toks += (i ? "," : "") + std::to_string((i * 37 + 11) % 256);
  for (const std::string& layout : {std::string(), std::string(" --prefill-len 9")}) {
    const json want = json::parse(
        run(std::string(kPython) + " " + ref + " logits --model " + dir + " --tokens " + toks + layout, &rc));
    ASSERT_EQ(rc, 0);
    for (const char* attn : {"", " --threads 2"}) {
      const std::string out =
          run(test::dsrt_binary() + " logits --model " + dir + " --tokens " + toks + layout + attn + " 2>/dev/null", &rc);
      ASSERT_EQ(rc, 0) << "dsrt logits failed";
      const json got = json::parse(out);
      ASSERT_EQ(got["n_vocab"], want["n_vocab"]);
      ASSERT_EQ(got["rows"].size(), want["rows"].size());
      double max_abs = 0, worst = 0;
      for (const auto& r : want["rows"])
        for (const auto& x : r["logits"]) max_abs = std::max(max_abs, std::fabs(x.get<double>()));
      for (size_t i = 0; i < got["rows"].size(); ++i) {
        ASSERT_EQ(got["rows"][i]["pos"], want["rows"][i]["pos"]);
        const auto& a = got["rows"][i]["logits"];
        const auto& b = want["rows"][i]["logits"];
        for (size_t j = 0; j < a.size(); ++j)
          worst = std::max(worst, std::fabs(a[j].get<double>() - b[j].get<double>()));
      }
      EXPECT_LE(worst / max_abs, 1e-4) << v.name << layout;
      std::printf("  %s%s: max rel err %.2e\n", v.name.c_str(), layout.c_str(), worst / max_abs);
    }
  }
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(
    All, DenseTest,
    ::testing::Values(Variant{"qwen2", "--arch qwen2 --seed 1"},
                      Variant{"qwen2_bf16", "--arch qwen2 --seed 2 --dtype bf16"},
                      Variant{"llama", "--arch llama --seed 3"},
                      Variant{"llama_llama3_rope", "--arch llama --seed 4 --rope-scaling llama3"},
                      Variant{"llama_tied_f16", "--arch llama --seed 5 --tie-embeddings --dtype f16"}),
    [](const auto& i) { return i.param.name; });

}  // namespace
}  // namespace dsrt
