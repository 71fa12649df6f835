// `dsrt bench suite --quick`, `dsrt bench compare` and `dsrt advise` through the CLI, the way
// a user runs them: schema of results.json, a value or an explicit reason for every case,
// report.md, report.html rendered by headless chromium; bad input gives clear errors. No
// timing thresholds: the tests check structure, never speed.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "suite/report.h"
#include "suite/results.h"
#include "suite/specs.h"
#include "suite/stats.h"
#include "suite/svg.h"
#include "test_util.h"

namespace dsrt {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string run(const std::string& cmd, int* rc) {  // stdout and stderr together
  return test::run_command(cmd + " 2>&1", rc);
}

std::string read_all(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string tmp_dir(const std::string& name) {
  const std::string d = test::binary_dir() + "/test-suite-tmp/" + name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

const std::string& dsrt() {
  static const std::string b = test::dsrt_binary();
  return b;
}

// Width and height from a PNG's IHDR chunk (bytes 16..23, big-endian); 0 when not a PNG.
std::pair<uint32_t, uint32_t> png_size(const std::string& png) {
  if (png.size() < 24 || png.compare(1, 3, "PNG") != 0) return {0, 0};
  auto be32 = [&](size_t o) {
    return (uint32_t(uint8_t(png[o])) << 24) | (uint32_t(uint8_t(png[o + 1])) << 16) |
           (uint32_t(uint8_t(png[o + 2])) << 8) | uint32_t(uint8_t(png[o + 3]));
  };
  return {be32(16), be32(20)};
}

bool have_chromium() {
  int rc;
  run("command -v chromium", &rc);
  return rc == 0;
}

std::string screenshot(const std::string& html, const std::string& png, const std::string& profile) {
  int rc;
  const std::string out =
      run("timeout 180 chromium --headless --no-sandbox --disable-gpu --disable-background-networking "
          "--disable-component-update --disable-sync --no-first-run --user-data-dir=" +
              profile + " --screenshot=" + png + " --window-size=1200,900 file://" + html,
          &rc);
  return out;
}

TEST(Suite, QuickRunWritesValidResultsAndReports) {
  const std::string out = tmp_dir("quick");
  int rc;
  const std::string log = run(dsrt() + " bench suite --quick --out " + out, &rc);
  ASSERT_EQ(rc, 0) << log;
  // Progress goes to stderr for every case.
  EXPECT_NE(log.find("dsrt suite: [1/"), std::string::npos) << log;

  auto doc = suite::read_results(out + "/results.json");
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  const json& j = doc.value();
  EXPECT_EQ(j["schema"], "dsrt-suite/1");
  EXPECT_EQ(j["mode"], "quick");
  for (const char* k : {"git_commit", "build_type", "cxx_flags", "compiler"}) EXPECT_TRUE(j["dsrt"].contains(k)) << k;
  for (const char* k : {"model", "isa", "caches", "logical_cpus", "physical_cores"})
    EXPECT_TRUE(j["hardware"]["cpu"].contains(k)) << k;
  EXPECT_TRUE(j["hardware"]["memory"].contains("total_bytes"));
  EXPECT_TRUE(j["hardware"]["accelerators"]["dsrt_backends"].is_array());
  EXPECT_GT(j["hardware"]["measured"]["read_bw_gbs"].get<double>(), 0);
  EXPECT_GT(j["hardware"]["measured"]["fp32_peak_gflops"].get<double>(), 0);
  ASSERT_FALSE(j["models"].empty());
  EXPECT_EQ(j["models"][0]["id"], "demo");

  // At least 20 distinct cases; every one has a value or an explicit reason.
  std::set<std::string> ids;
  int ok = 0;
  for (const json& c : j["cases"]) {
    ids.insert(c["id"].get<std::string>());
    const std::string st = c["status"];
    if (st == "ok") {
      ++ok;
      ASSERT_FALSE(c["metrics"].empty()) << c["id"];
      for (const json& m : c["metrics"]) {
        EXPECT_FALSE(m["unit"].get<std::string>().empty()) << c["id"];
        EXPECT_GE(m["n"].get<int>(), 1) << c["id"];
        EXPECT_TRUE(std::isfinite(m["mean"].get<double>())) << c["id"] << " " << m["name"];
        EXPECT_TRUE(m.contains("sd") && m.contains("min")) << c["id"];
      }
      EXPECT_TRUE(c["params"].is_object()) << c["id"];
    } else {
      EXPECT_TRUE(st == "unavailable" || st == "error") << c["id"];
      EXPECT_FALSE(c["reason"].get<std::string>().empty()) << c["id"];
    }
    EXPECT_NE(st, "error") << c["id"] << ": " << c.value("reason", "");
  }
  EXPECT_GE(ids.size(), 20u);
  EXPECT_GE(ok, 20);
  for (const char* must : {"mem.read_bw", "mem.triad_bw", "cpu.fp32_fma_peak", "cpu.int8_dot_peak", "matmul.bf16",
                           "matmul.q4_k", "matmul.f8_e4m3", "attn.mla_absorb_vs_naive", "moe.layer_vs_active_experts",
                           "model.prefill", "model.decode_b1", "model.decode_batch", "memory.kv_bytes_per_token",
                           "memory.weights_by_precision", "memory.peak_rss", "model.load_time", "tokenizer.encode",
                           "tokenizer.decode", "energy.per_token", "serve.ttft_tpot", "quant.perplexity"})
    EXPECT_TRUE(ids.count(must)) << must;
  // Energy: a value where a counter exists, else the reason; never a guess.
  const json* e = suite::find_case(j, "energy.per_token");
  ASSERT_NE(e, nullptr);
  if ((*e)["status"] != "ok") EXPECT_FALSE((*e)["reason"].get<std::string>().empty());

  const std::string md = read_all(out + "/report.md");
  EXPECT_NE(md.find("# dsrt suite report"), std::string::npos);
  EXPECT_NE(md.find("mem.read_bw"), std::string::npos);
  const std::string html = read_all(out + "/report.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);  // self-contained, static
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // no external resources

  if (!have_chromium()) GTEST_SKIP() << "chromium is not installed (apt-get install chromium): report.html render not checked";
  const std::string blank_html = out + "/blank.html";
  std::ofstream(blank_html) << "<!DOCTYPE html><html><body></body></html>\n";
  const std::string log1 = screenshot(out + "/report.html", out + "/report.png", out + "/chrome1");
  const std::string log2 = screenshot(blank_html, out + "/blank.png", out + "/chrome2");
  const std::string png = read_all(out + "/report.png"), blank = read_all(out + "/blank.png");
  ASSERT_FALSE(png.empty()) << log1;
  ASSERT_FALSE(blank.empty()) << log2;
  EXPECT_EQ(png_size(png), std::make_pair(1200u, 900u));
  // A page of tables and charts compresses far worse than an empty white page.
  EXPECT_GT(png.size(), 3 * blank.size()) << "report.png looks blank";
  EXPECT_NE(png, blank);
}

// Two fast partial runs with different thread counts: compare must line them up, give ratios
// and warn that the parameters differ.
TEST(Suite, CompareMergesRunsAndWarnsOnParameterDifferences) {
  const std::string a = tmp_dir("cmp-a"), b = tmp_dir("cmp-b"), out = tmp_dir("cmp-out");
  int rc;
  std::string log = run(dsrt() + " bench suite --quick --only mem.read_bw --only cpu.fp32 -t 1 --out " + a, &rc);
  ASSERT_EQ(rc, 0) << log;
  log = run(dsrt() + " bench suite --quick --only mem.read_bw --only cpu.fp32 -t 2 --out " + b, &rc);
  ASSERT_EQ(rc, 0) << log;
  log = run(dsrt() + " bench compare " + a + "/results.json " + b + "/results.json --baseline 1 --out " + out, &rc);
  ASSERT_EQ(rc, 0) << log;
  EXPECT_NE(log.find("parameters differ: threads"), std::string::npos) << log;
  const std::string md = read_all(out + "/compare.md");
  EXPECT_NE(md.find("#1 (baseline)"), std::string::npos) << md;
  EXPECT_NE(md.find("memory read bandwidth"), std::string::npos);
  EXPECT_NE(md.find("(x"), std::string::npos) << "no ratio to the baseline";
  EXPECT_NE(md.find("## Warnings"), std::string::npos);
  const std::string html = read_all(out + "/compare.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  // Markdown to stdout without --out.
  log = run(dsrt() + " bench compare " + a + "/results.json " + b + "/results.json --baseline 2 2>/dev/null", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(log.find("#2 (baseline)"), std::string::npos);
}

TEST(Suite, CompareRejectsBadInput) {
  const std::string d = tmp_dir("cmp-bad");
  std::ofstream(d + "/malformed.json") << "{\"schema\": \"dsrt-suite/1\", ";
  std::ofstream(d + "/other.json") << "{\"hello\": 1}";
  std::ofstream(d + "/nocases.json") << R"({"schema":"dsrt-suite/1","suite_version":"1.0","mode":"quick","dsrt":{},
    "environment":{},"hardware":{},"models":[],"cases":[{"id":"x","version":1,"status":"unavailable","params":{},"metrics":[]}]})";
  int rc;
  std::string out = run(dsrt() + " bench compare " + d + "/missing.json " + d + "/other.json", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("missing.json: cannot open"), std::string::npos) << out;
  out = run(dsrt() + " bench compare " + d + "/malformed.json " + d + "/malformed.json", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("malformed JSON"), std::string::npos) << out;
  out = run(dsrt() + " bench compare " + d + "/other.json " + d + "/other.json", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("not a dsrt suite result"), std::string::npos) << out;
  out = run(dsrt() + " bench compare " + d + "/nocases.json " + d + "/nocases.json", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("without a reason"), std::string::npos) << out;
  out = run(dsrt() + " bench compare " + d + "/other.json", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("at least two"), std::string::npos) << out;
}

TEST(Suite, SuiteRejectsBadInput) {
  int rc;
  std::string out = run(dsrt() + " bench suite --quick", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("--out"), std::string::npos) << out;
  out = run(dsrt() + " bench suite --quick --standard --out /tmp/x", &rc);
  EXPECT_NE(rc, 0);
  out = run(dsrt() + " bench suite --only no.such.case --out " + tmp_dir("bad-only"), &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("matches no case"), std::string::npos) << out;
  out = run(dsrt() + " bench suite --model /no/such/model --only model.load --out " + tmp_dir("bad-model"), &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("/no/such/model"), std::string::npos) << out;
  // Plain `dsrt bench` still needs a model.
  out = run(dsrt() + " bench", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("--model is required"), std::string::npos) << out;
}

TEST(Advise, KnownModelsGiveARecommendation) {
  int rc;
  std::string out = run(dsrt() + " advise --model DeepSeek-V3 --scenario infer", &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("Recommendation:"), std::string::npos) << out;
  EXPECT_NE(out.find("37"), std::string::npos) << out;  // active parameters
  EXPECT_NE(out.find("MLA"), std::string::npos);
  out = run(dsrt() + " advise --model deepseek-r1-distill-qwen-7b --scenario serve --concurrency 32 -c 8192 --json", &rc);
  ASSERT_EQ(rc, 0) << out;
  const json j = json::parse(out);
  EXPECT_EQ(j["concurrency"], 32);
  EXPECT_FALSE(j["recommendation"].is_null());
  bool saw_spec = false;
  for (const json& o : j["options"]) {
    EXPECT_FALSE(o["source"].get<std::string>().empty());
    saw_spec |= o["status"] == "spec";
  }
  EXPECT_TRUE(saw_spec);
  out = run(dsrt() + " advise --model DeepSeek-V2-Lite --scenario train", &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("not implemented in dsrt yet"), std::string::npos) << out;
  EXPECT_NE(out.find("16 bytes per parameter"), std::string::npos) << out;
  // A checkpoint folder's config.json.
  out = run(dsrt() + " advise --model " + test::vendored_dir() + "/oracle/v3-tiny-fp8 --json", &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(json::parse(out)["model"]["native_dtype"], "FP8");
}

TEST(Advise, ProfileCalibratesTheMeasuredMachine) {
  const std::string d = tmp_dir("advise-profile");
  int rc;
  std::string log = run(dsrt() + " bench suite --quick --only mem.read_bw --only cpu.fp32_fma --only model.decode_b1 "
                                 "--only model.prefill --out " + d, &rc);
  ASSERT_EQ(rc, 0) << log;
  std::string out = run(dsrt() + " advise --model DeepSeek-V2-Lite --profile " + d + "/results.json --json", &rc);
  ASSERT_EQ(rc, 0) << out;
  const json j = json::parse(out);
  ASSERT_TRUE(j["calibration"].is_object());
  bool measured = false;
  for (const json& o : j["options"]) measured |= o["status"] == "measured" && o["calibrated"] == true;
  EXPECT_TRUE(measured);
}

TEST(Advise, BadInputGivesClearErrors) {
  int rc;
  std::string out = run(dsrt() + " advise --model DeepSeek-V9", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("unknown model 'DeepSeek-V9'"), std::string::npos) << out;
  out = run(dsrt() + " advise --model DeepSeek-V3 --budget-mem 1", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("impossible budget"), std::string::npos) << out;
  out = run(dsrt() + " advise --model DeepSeek-V3 --budget-mem -5", &rc);
  EXPECT_NE(rc, 0);
  out = run(dsrt() + " advise --model DeepSeek-V3 --scenario fly", &rc);
  EXPECT_NE(rc, 0);
  out = run(dsrt() + " advise --model DeepSeek-V3 --context 0", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("--context"), std::string::npos) << out;
  const std::string d = tmp_dir("advise-bad");
  std::ofstream(d + "/bad.json") << "not json";
  out = run(dsrt() + " advise --model DeepSeek-V3 --profile " + d + "/bad.json", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("malformed JSON"), std::string::npos) << out;
  out = run(dsrt() + " advise --model DeepSeek-V3 --profile " + d + "/missing.json", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("cannot open"), std::string::npos) << out;
  std::ofstream(d + "/config.json") << "{\"model_type\": \"deepseek_v3\"";
  out = run(dsrt() + " advise --model " + d, &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("config.json"), std::string::npos) << out;
}

// The library pieces the reports rest on.
TEST(SuiteLib, StatsAndSchemaChecks) {
  const suite::Summary s = suite::summarize({4, 1, 3, 2});
  EXPECT_EQ(s.n, 4);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 4);
  EXPECT_DOUBLE_EQ(s.p50, 2);  // nearest rank
  EXPECT_DOUBLE_EQ(s.p99, 4);
  EXPECT_NEAR(s.sd, std::sqrt(5.0 / 3.0), 1e-12);
  EXPECT_EQ(suite::summarize({}).n, 0);
  json doc = {{"schema", "dsrt-suite/1"}, {"suite_version", "1.0"}, {"mode", "quick"}, {"dsrt", json::object()},
              {"environment", json::object()}, {"hardware", json::object()}, {"models", json::array()},
              {"cases", json::array({{{"id", "a"}, {"version", 1}, {"status", "ok"}, {"params", json::object()},
                                      {"metrics", json::array()}}})}};
  EXPECT_FALSE(suite::validate_results(doc, "x").ok());  // ok without a metric
  doc["cases"][0]["status"] = "unavailable";
  EXPECT_FALSE(suite::validate_results(doc, "x").ok());  // no reason
  doc["cases"][0]["reason"] = "no counter";
  EXPECT_TRUE(suite::validate_results(doc, "x").ok());
  EXPECT_EQ(suite::html_escape("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
  const std::string svg = suite::svg_bars({"t<", "y", {"a", "b"}, {{"s", {1.0, 2.0}}}, false});
  EXPECT_NE(svg.find("t&lt;"), std::string::npos);
  EXPECT_NE(svg.find("<rect"), std::string::npos);
}

// The built-in shapes reproduce the published parameter counts.
TEST(SuiteLib, KnownModelCountsMatchPublishedSizes) {
  auto count = [](const char* n) { return suite::model_counts(suite::find_known_model(n)->config); };
  EXPECT_NEAR(count("DeepSeek-V3").total_params / 1e9, 671, 3);
  EXPECT_NEAR(count("DeepSeek-V3").active_params / 1e9, 37, 1.5);
  EXPECT_NEAR(count("DeepSeek-V2").total_params / 1e9, 236, 2);
  EXPECT_NEAR(count("DeepSeek-V2").active_params / 1e9, 21, 1.5);
  EXPECT_NEAR(count("DeepSeek-V2-Lite").total_params / 1e9, 15.7, 0.3);
  EXPECT_NEAR(count("r1-distill-qwen-7b").total_params / 1e9, 7.6, 0.1);
  EXPECT_NEAR(count("r1-distill-llama-70b").total_params / 1e9, 70.6, 0.3);
  EXPECT_NEAR(count("r1-distill-qwen-1.5b").total_params / 1e9, 1.78, 0.03);
  // MLA: (512 + 64) values per token per layer.
  EXPECT_DOUBLE_EQ(count("DeepSeek-V3").kv_values_per_token, 576.0 * 61);
  EXPECT_EQ(suite::find_known_model("gpt-5"), nullptr);
}

}  // namespace
}  // namespace dsrt
