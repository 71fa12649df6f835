// Load generator for `dsrt bench serve`: drives an OpenAI-compatible server with streaming
// completions and reports throughput and latency the way vLLM's benchmark_serving does:
//   TTFT  time from the scheduled send time to the first streamed token,
//   TPOT  (latency - TTFT) / (output tokens - 1) per request,
//   ITL   gaps between consecutive streamed chunks,
//   goodput  completed requests per second that met every given SLO.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dsrt::server {

struct LoadOptions {
  std::string url = "http://127.0.0.1:8080";
  std::string api_key;
  int concurrency = 16;
  int requests = 200;
  double rate = 0;  // requests per second (Poisson arrivals); 0 = as fast as concurrency allows
  int prompt_len = 64, gen_len = 64;
  // > 0: each request generates a uniform random length in [gen_len_min, gen_len] (real
  // traffic has mixed lengths, which is where static batches wait for their slowest member).
  int gen_len_min = 0;
  // How the per-request length is drawn when gen_len_min > 0: "uniform" in [gen_len_min,
  // gen_len], or "exp": gen_len_min + an exponential with mean gen_len_mean - gen_len_min,
  // redrawn above gen_len. Chat traffic's output lengths are long-tailed (standard deviation
  // about the mean, as the exponential's); the tail is what a static batch waits for.
  std::string gen_len_dist = "uniform";
  double gen_len_mean = 0;  // "exp" only; 0 = (gen_len_min + gen_len) / 4
  // Tokens every prompt starts with (a shared system prompt), before its prompt_len own ones.
  int shared_prefix = 0;
  int vocab = 1000;        // random prompt ids are drawn from [100, 100 + vocab)
  double slo_ttft_ms = 0;  // 0 = no SLO
  double slo_tpot_ms = 0;
  uint64_t seed = 1;
  // Chaos for soak runs: a fraction of requests hangs up mid-stream, another sends bad input.
  double disconnect_frac = 0, bad_frac = 0;
  double timeout_s = 600;
};

struct Summary {
  double mean = 0, p50 = 0, p90 = 0, p99 = 0;
};

struct LoadReport {
  int completed = 0, failed = 0, disconnected = 0, bad_sent = 0, bad_answered = 0;
  int64_t output_tokens = 0, prompt_tokens = 0;
  double duration_s = 0;
  double request_throughput = 0, output_throughput = 0, goodput = 0;
  Summary ttft_ms, tpot_ms, itl_ms, e2e_ms;
  std::vector<std::string> errors;  // the first few failures, for the report
  nlohmann::json to_json() const;
};

Result<LoadReport> run_load(const LoadOptions& opt);

// The generation length of each of opt.requests requests, drawn from opt's distribution with
// a stream of its own (seed + 1); an error names the flag that is out of range.
Result<std::vector<int>> gen_lengths(const LoadOptions& opt);

Summary summarize(std::vector<double> v);

}  // namespace dsrt::server
