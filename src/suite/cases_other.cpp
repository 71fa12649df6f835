// Tokenizer throughput, and the cases that depend on commands other parts of dsrt provide
// (server load tests, perplexity): they run when this binary has the command and otherwise
// record why they could not.
#include <algorithm>
#include <cstdint>

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

CaseResult needs_command(CaseContext& c, const std::string& cmd, const std::string& what) {
  if (!c.has_command(cmd))
    return CaseResult::unavailable("this dsrt binary has no `dsrt " + cmd + "` command yet, so " + what +
                                   " cannot be measured");
  return CaseResult::unavailable("`dsrt " + cmd + "` exists but the suite does not drive it yet (" + what + ")");
}

}  // namespace

void add_other_cases(std::vector<CaseDef>& out) {
  out.push_back({"tokenizer.encode", 1, "tokenizer", "Tokenizer encode MB/s", true,
                 [](CaseContext& c) { return tokenizer_case(c, false); }});
  out.push_back({"tokenizer.decode", 1, "tokenizer", "Tokenizer decode MB/s", true,
                 [](CaseContext& c) { return tokenizer_case(c, true); }});
  out.push_back({"serve.ttft_tpot", 1, "serve", "TTFT / TPOT percentiles under load", true, [](CaseContext& c) {
                   return needs_command(c, "serve", "time to first token and time per output token under load");
                 }});
  out.push_back({"serve.batching_modes", 1, "serve", "Dynamic vs static vs no batching", true,
                 [](CaseContext& c) {
                   return needs_command(c, "serve", "dynamic, static and no batching throughput");
                 }});
  out.push_back({"quant.perplexity", 1, "accuracy", "Quantization accuracy (perplexity)", true,
                 [](CaseContext& c) {
                   return needs_command(c, "perplexity", "perplexity per quantization type");
                 }});
}

}  // namespace dsrt::suite
