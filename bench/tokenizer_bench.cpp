// Tokenizer throughput: encode and decode MB/s (of UTF-8 text) on a few MB of mixed Chinese,
// English, code, numbers and chat markup, built deterministically from the vendored test cases.
//
//   ninja -C build bench_tokenizer && ./build/bin/bench_tokenizer
//
// The BPE word cache is warm after the first iteration, as it is in a serving process.
#include <benchmark/benchmark.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tokenizer/tokenizer.h"

namespace {

std::string read_all(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

const dsrt::Tokenizer& tokenizer() {
  static const dsrt::Tokenizer* tok = [] {
    auto r =
        dsrt::Tokenizer::from_dir(std::string(DSRT_SOURCE_DIR) + "/assets/tokenizer/deepseek_v3");
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().message().c_str());
      std::exit(1);
    }
    return new dsrt::Tokenizer(std::move(r.value()));
  }();
  return *tok;
}

// ~4 MiB: the 60 case texts and 4 rendered chats, picked by a fixed LCG and joined by
// newlines or spaces, so words recur the way they do in real text but not in a fixed cycle.
const std::string& corpus() {
  static const std::string text = [] {
    const std::string dir = std::string(DSRT_SOURCE_DIR) + "/tests/data/tokenizer";
    std::vector<std::string> parts;
    std::istringstream lines(read_all(dir + "/deepseek_v3_cases.jsonl"));
    for (std::string l; std::getline(lines, l);)
      if (!l.empty()) parts.push_back(nlohmann::json::parse(l)["text"]);
    const auto chat = nlohmann::json::parse(read_all(dir + "/deepseek_v3_chat_cases.json"));
    for (const auto& c : chat["cases"]) parts.push_back(c["rendered"]);
    std::string out;
    uint64_t s = 0x9E3779B97F4A7C15ull;
    while (out.size() < (4u << 20)) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      out += parts[(s >> 33) % parts.size()];
      out += ((s >> 20) & 3) ? "\n" : " ";
    }
    return out;
  }();
  return text;
}

void BM_Encode(benchmark::State& st) {
  const auto& tok = tokenizer();
  const auto& text = corpus();
  size_t n_tokens = 0;
  for (auto _ : st) {
    auto ids = tok.encode(text, false);
    if (!ids.ok()) st.SkipWithError(ids.status().message().c_str());
    n_tokens = ids.value().size();
    benchmark::DoNotOptimize(ids.value().data());
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(text.size()));
  st.counters["tokens"] = double(n_tokens);
  st.counters["bytes_per_token"] = double(text.size()) / double(n_tokens);
}
BENCHMARK(BM_Encode)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_Decode(benchmark::State& st) {
  const auto& tok = tokenizer();
  const auto ids = tok.encode(corpus(), false).value();
  size_t bytes = 0;
  for (auto _ : st) {
    std::string s = tok.decode(ids);
    bytes = s.size();
    benchmark::DoNotOptimize(s.data());
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(bytes));
}
BENCHMARK(BM_Decode)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_StreamDecode(benchmark::State& st) {
  const auto& tok = tokenizer();
  const auto ids = tok.encode(corpus(), false).value();
  size_t bytes = 0;
  for (auto _ : st) {
    dsrt::StreamDecoder sd(tok);
    bytes = 0;
    for (int32_t id : ids) bytes += sd.push(id).size();
    bytes += sd.flush().size();
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(bytes));
}
BENCHMARK(BM_StreamDecode)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
