// Tokenizer throughput, and the cases that depend on commands other parts of dsrt provide
// (server load tests, perplexity): they run when this binary has the command and otherwise
// record why they could not.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>

#include "suite/results.h"
#include "suite/stats.h"
#include "tokenizer/tokenizer.h"

namespace dsrt::suite {
namespace {

// A fixed mix of English, Chinese, code, numbers and chat-like markup, repeated in an order
// drawn from a fixed LCG so words recur as in real text, not in a fixed cycle.
std::string corpus(size_t bytes) {
  static const char* kParts[] = {
      "The quick brown fox jumps over the lazy dog while the server streams tokens to 128 clients.",
      "深度求索发布了新的混合专家模型，它使用多头潜在注意力来压缩键值缓存。",
      "def softmax(x):\n    m = max(x)\n    e = [math.exp(v - m) for v in x]\n    return [v / sum(e) for v in e]\n",
      "In 2024, DeepSeek-V3 reported 671B total parameters with 37B activated for each token.",
      "请用三句话解释为什么天空是蓝色的，并给出一个简单的实验。",
      "for (int i = 0; i < n; ++i) { y[i] += a * x[i]; }  // axpy, 2 flops per element",
      "User: What is 12345 * 6789?\nAssistant: <think>12345 * 6789 = 83810205</think> 83,810,205.",
      "Les modèles de langage apprennent des régularités statistiques à partir de grands corpus.",
      "SELECT name, COUNT(*) FROM requests WHERE latency_ms > 250 GROUP BY name ORDER BY 2 DESC;",
      "数学：若 x^2 - 5x + 6 = 0，则 x = 2 或 x = 3。",
  };
  const size_t n = sizeof kParts / sizeof kParts[0];
  std::string out;
  uint64_t s = 0x9E3779B97F4A7C15ull;
  while (out.size() < bytes) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    out += kParts[(s >> 33) % n];
    out += ((s >> 20) & 3) ? "\n" : " ";
  }
  return out;
}

CaseResult tokenizer_case(CaseContext& c, bool decode) {
  const size_t bytes = c.quick() ? (size_t(1) << 19) : (size_t(4) << 20);
  const int reps = c.quick() ? 3 : 5;
  CaseResult r;
  r.params = {{"corpus_bytes", bytes}, {"corpus", "fixed mix of English, Chinese, code, numbers, chat"},
              {"threads", 1}, {"bpe_cache", "warm after the first repetition"}};
  auto tok = Tokenizer::load(c.model->path);
  if (!tok.ok()) return CaseResult::unavailable("no tokenizer: " + tok.status().message(), r.params);
  const std::string text = corpus(bytes);
  auto ids0 = tok.value().encode(text, false);
  if (!ids0.ok()) return CaseResult::error(ids0.status().message(), r.params);
  r.repetitions = reps;
  std::vector<double> mbs;
  size_t out_bytes = 0;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    if (decode) {
      const std::string s = tok.value().decode(ids0.value());
      out_bytes = s.size();
      keep(s);
    } else {
      auto ids = tok.value().encode(text, false);
      keep(ids);
    }
    mbs.push_back(double(text.size()) / seconds_since(t0) / 1e6);
  }
  r.add(decode ? "decode_mb_s" : "encode_mb_s", "MB/s", mbs);
  r.extra["tokens"] = ids0.value().size();
  r.extra["bytes_per_token"] = double(text.size()) / double(ids0.value().size());
  if (decode) r.extra["round_trip_exact"] = out_bytes == text.size();
  return r;
}

// Runs a command line and returns its stdout; *rc is the exit status (-1 when it could not
// start). stderr goes to `err_file` so the suite's own progress stays readable.
std::string capture(const std::vector<std::string>& args, int* rc, const std::string& err_file) {
  std::string cmd;
  for (const auto& a : args) {
    std::string q = "'";
    for (char ch : a) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    cmd += (cmd.empty() ? "" : " ") + q + "'";
  }
  cmd += " 2>" + (err_file.empty() ? std::string("/dev/null") : "'" + err_file + "'");
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *rc = -1;
    return "";
  }
  std::string out;
  char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = pclose(p);
  *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

std::string last_line_of(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return "";
  std::string all;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) all.append(buf, n);
  std::fclose(f);
  while (!all.empty() && (all.back() == '\n' || all.back() == '\r')) all.pop_back();
  const size_t i = all.find_last_of("\n\r");
  return i == std::string::npos ? all : all.substr(i + 1);
}

std::string scratch_dir(const CaseContext& c, const std::string& name) {
  const std::string d = "/tmp/dsrt-suite-" + std::to_string(getpid()) + "-" + name;
  std::error_code ec;
  std::filesystem::create_directories(d, ec);
  return d;
}

bool has_bench_serve(const CaseContext& c) {
  if (c.self_exe.empty()) return false;
  int rc = 0;
  capture({c.self_exe, "bench", "serve", "--help"}, &rc, "");
  return rc == 0;
}

// `dsrt bench serve --compare-batching`: starts `dsrt serve` on the model with each batching
// mode and drives it with streaming completions (closed loop, `concurrency` clients).
Result<json> serve_load(CaseContext& c, const std::string& modes, int concurrency, int requests, int prompt, int gen) {
  const std::string err = scratch_dir(c, "serve") + "/bench-serve.stderr";
  int rc = 0;
  const std::string out =
      capture({c.self_exe, "bench", "serve", "--compare-batching", "--modes", modes, "-m", c.model->path, "-c",
               std::to_string(concurrency), "-n", std::to_string(requests), "--prompt-len", std::to_string(prompt),
               "--gen-len", std::to_string(gen), "-t", std::to_string(c.threads), "--seed", "1", "-o", "json"},
              &rc, err);
  if (rc != 0) return Status::Error("`dsrt bench serve` failed (exit " + std::to_string(rc) + "): " + last_line_of(err));
  json j = json::parse(out, nullptr, false);
  if (!j.is_array()) return Status::Error("`dsrt bench serve -o json` printed no JSON array");
  return j;
}

CaseResult serve_latency_case(CaseContext& c) {
  const int conc = c.quick() ? 4 : 16, reqs = c.quick() ? 8 : 64, prompt = c.quick() ? 32 : 128, gen = c.quick() ? 16 : 64;
  CaseResult r;
  r.params = {{"driver", "dsrt bench serve --compare-batching --modes continuous"}, {"concurrency", conc},
              {"requests", reqs}, {"prompt_len", prompt}, {"gen_len", gen}, {"threads", c.threads},
              {"arrivals", "closed loop"}};
  if (!c.has_command("serve")) return CaseResult::unavailable("this dsrt binary has no `dsrt serve`", r.params);
  if (!has_bench_serve(c))
    return CaseResult::unavailable("this dsrt binary has `dsrt serve` but no `dsrt bench serve` load generator yet",
                                   r.params);
  c.progress("serving " + std::to_string(reqs) + " requests at concurrency " + std::to_string(conc));
  auto j = serve_load(c, "continuous", conc, reqs, prompt, gen);
  if (!j.ok()) return CaseResult::error(j.status().message(), r.params);
  const json& row = j.value().at(0);
  r.repetitions = row.value("completed", 0);
  for (const char* k : {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"})
    for (const char* st : {"p50", "p90", "p99", "mean"})
      if (row.contains(k)) r.add(k, "ms", {row[k].value(st, 0.0)}, {{"stat", st}}, "lower");
  r.add("output_tok_s", "tok/s", {row.value("output_throughput", 0.0)});
  r.add("request_throughput", "req/s", {row.value("request_throughput", 0.0)});
  r.add("failed_requests", "count", {double(row.value("failed", 0))}, {}, "lower");
  r.extra["note"] = "percentiles are over the requests of one load run (n = 1 run)";
  return r;
}

CaseResult serve_batching_case(CaseContext& c) {
  const int conc = c.quick() ? 4 : 16, reqs = c.quick() ? 8 : 48, prompt = c.quick() ? 32 : 128, gen = c.quick() ? 16 : 32;
  CaseResult r;
  r.params = {{"driver", "dsrt bench serve --compare-batching --modes continuous,static,off"},
              {"concurrency", conc}, {"requests", reqs}, {"prompt_len", prompt}, {"gen_len", gen},
              {"threads", c.threads}};
  if (!c.has_command("serve")) return CaseResult::unavailable("this dsrt binary has no `dsrt serve`", r.params);
  if (!has_bench_serve(c))
    return CaseResult::unavailable("this dsrt binary has `dsrt serve` but no `dsrt bench serve` load generator yet",
                                   r.params);
  c.progress("continuous vs static vs no batching, " + std::to_string(reqs) + " requests each");
  auto j = serve_load(c, "continuous,static,off", conc, reqs, prompt, gen);
  if (!j.ok()) return CaseResult::error(j.status().message(), r.params);
  r.repetitions = 1;
  for (const json& row : j.value()) {
    const json lab = {{"mode", row.value("label", std::string("?"))}};
    r.add("output_tok_s", "tok/s", {row.value("output_throughput", 0.0)}, lab);
    json l2 = lab;
    l2["stat"] = "p50";
    r.add("ttft_ms", "ms", {row["ttft_ms"].value("p50", 0.0)}, l2, "lower");
    r.add("tpot_ms", "ms", {row["tpot_ms"].value("p50", 0.0)}, l2, "lower");
    l2["stat"] = "p99";
    r.add("ttft_ms", "ms", {row["ttft_ms"].value("p99", 0.0)}, l2, "lower");
  }
  return r;
}

// Quantization accuracy: quantize the model with `dsrt quantize` and score each file with
// `dsrt perplexity --kl-base` against the original on the suite's fixed text. On the random
// demo model perplexity itself means nothing; the KL divergence and top-1 agreement with the
// unquantized model still measure what quantization changes.
CaseResult perplexity_case(CaseContext& c) {
  const std::vector<std::string> types =
      c.quick() ? std::vector<std::string>{"q8_0", "q4_k_m"} : std::vector<std::string>{"q8_0", "q6_k", "q4_k_m", "q2_k"};
  const int ctx = c.quick() ? 128 : 256, chunks = c.quick() ? 2 : 4;
  CaseResult r;
  r.params = {{"types", types}, {"ctx", ctx}, {"chunks", chunks}, {"text", "the suite's fixed mixed corpus"},
              {"driver", "dsrt quantize + dsrt perplexity --kl-base"}, {"threads", c.threads}};
  for (const char* cmd : {"perplexity", "quantize"})
    if (!c.has_command(cmd))
      return CaseResult::unavailable("this dsrt binary has no `dsrt " + std::string(cmd) + "` yet", r.params);
  const std::string dir = scratch_dir(c, "ppl");
  const std::string text = dir + "/text.txt";
  {
    FILE* f = std::fopen(text.c_str(), "w");
    if (!f) return CaseResult::error("cannot write " + text, r.params);
    const std::string t = corpus(size_t(ctx) * chunks * 8);
    std::fwrite(t.data(), 1, t.size(), f);
    std::fclose(f);
  }
  r.repetitions = 1;
  for (const auto& t : types) {
    const std::string gguf = dir + "/model-" + t + ".gguf", err = dir + "/" + t + ".stderr";
    c.progress("quantizing to " + t);
    int rc = 0;
    capture({c.self_exe, "quantize", c.model->path, gguf, "-t", t, "-q", "--threads", std::to_string(c.threads)}, &rc,
            err);
    if (rc != 0) return CaseResult::error("`dsrt quantize -t " + t + "` failed: " + last_line_of(err), r.params);
    c.progress("perplexity and KL divergence of " + t);
    const std::string out = capture({c.self_exe, "perplexity", "-m", gguf, "-f", text, "-c", std::to_string(ctx),
                                     "--chunks", std::to_string(chunks), "--kl-base", c.model->path, "-t",
                                     std::to_string(c.threads), "-o", "json"},
                                    &rc, err);
    json j = json::parse(out, nullptr, false);
    if (rc != 0 || !j.is_object())
      return CaseResult::error("`dsrt perplexity` on " + t + " failed: " + last_line_of(err), r.params);
    const json lab = {{"dtype", t}};
    r.add("kld_mean", "nats", {j.value("kld_mean", 0.0)}, lab, "lower");
    r.add("top1_agree", "ratio", {j.value("top1_agree", 0.0)}, lab);
    r.add("ppl", "ppl", {j.value("ppl", 0.0)}, lab, "lower");
    if (t == types.front()) r.add("ppl", "ppl", {j.value("base_ppl", 0.0)}, {{"dtype", "base"}}, "lower");
    std::error_code ec;
    r.extra["file_bytes"][t] = std::filesystem::file_size(gguf, ec);
    std::filesystem::remove(gguf, ec);
  }
  if (c.model->is_demo) r.extra["note"] = "random-weight demo model: perplexity is meaningless, KLD and top-1 agreement are not";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return r;
}

}  // namespace

void add_other_cases(std::vector<CaseDef>& out) {
  out.push_back({"tokenizer.encode", 1, "tokenizer", "Tokenizer encode MB/s", true,
                 [](CaseContext& c) { return tokenizer_case(c, false); }});
  out.push_back({"tokenizer.decode", 1, "tokenizer", "Tokenizer decode MB/s", true,
                 [](CaseContext& c) { return tokenizer_case(c, true); }});
  out.push_back({"serve.ttft_tpot", 1, "serve", "TTFT / TPOT percentiles under load", true, serve_latency_case});
  out.push_back({"serve.batching_modes", 1, "serve", "Continuous (dynamic) vs static vs no batching", true,
                 serve_batching_case});
  out.push_back({"quant.perplexity", 1, "accuracy", "Quantization accuracy (KLD / perplexity vs the base model)", true,
                 perplexity_case});
}

}  // namespace dsrt::suite
