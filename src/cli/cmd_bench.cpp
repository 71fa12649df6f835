// `dsrt bench`: llama-bench-style prompt-processing (pp) and token-generation (tg) throughput,
// with the achieved weight bandwidth as a fraction of this machine's measured read bandwidth,
// and optionally a peer llama-bench run on the same file with the same settings.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/command.h"
#include "cli/common.h"
#include "models/model.h"
#include "suite/microbench.h"

namespace dsrt::cli {

// `dsrt bench suite` / `dsrt bench compare` (cmd_suite.cpp); nullopt when neither was given.
std::function<std::optional<int>()> add_suite_modes(CLI::App& bench);
// `dsrt bench serve` (cmd_serve.cpp); nullopt when it was not given.
std::function<std::optional<int>()> add_serve_mode(CLI::App& bench);

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Read bandwidth in GB/s: the suite's probe (threads summing disjoint parts of a 256 MiB
// buffer, far larger than the caches); the best of a few passes, as the machine is shared.
double measure_read_bandwidth(int threads) {
  const std::vector<double> s = suite::read_bandwidth_gbs(size_t(256) << 20, threads, 4);
  return s.empty() ? 0 : *std::max_element(s.begin(), s.end());
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

struct Stat {
  double mean = 0, sd = 0;
};
Stat stats(const std::vector<double>& v) {
  Stat s;
  for (double x : v) s.mean += x;
  s.mean /= double(v.size());
  for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
  s.sd = v.size() > 1 ? std::sqrt(s.sd / double(v.size() - 1)) : 0;
  return s;
}

// Weight bytes one decoded token reads: everything but the embedding table (one row is read;
// unless the output head is tied to it, then the head reads all of it) and, for MoE layers,
// only top_k / n_routed_experts of the routed experts. Uses the mean bytes per parameter of
// the file, so it is an estimate for mixed-precision files.
double active_bytes_per_token(const Model& m) {
  const ModelConfig& c = m.config();
  const WeightStats& w = m.weight_stats();
  const double bpp = double(w.weight_bytes) / double(std::max<int64_t>(w.n_params, 1));
  double embed = c.tie_word_embeddings ? 0.0 : double(c.vocab_size) * c.hidden_size;
  double routed = 0;
  if (c.is_deepseek() && c.n_routed_experts > 0) {
    int moe_layers = 0;
    for (int l = 0; l < c.num_hidden_layers; ++l) moe_layers += c.is_moe_layer(l);
    routed = double(moe_layers) * c.n_routed_experts * 3.0 * c.hidden_size * c.moe_intermediate_size;
  }
  const double frac = c.n_routed_experts > 0 ? double(c.num_experts_per_tok) / c.n_routed_experts : 1;
  return (double(w.n_params) - embed - routed * (1 - frac)) * bpp;
}

struct BenchOpts {
  std::string model, threads = "2", output = "md", peer;
  int n_prompt = 512, n_gen = 128, reps = 3, n_depth = 0;
};

int run_bench(const BenchOpts& o) {
  auto tl = parse_id_list(o.threads);
  if (!tl.ok()) return fail("bench", "-t: " + tl.status().message());
  for (int t : tl.value())
    if (t < 1 || t > 1024) return fail("bench", "-t: thread counts must be in 1..1024");
  if (o.n_prompt < 0 || o.n_gen < 0 || (o.n_prompt == 0 && o.n_gen == 0))
    return fail("bench", "-p and -n must be >= 0 and not both 0");
  if (o.n_depth < 0) return fail("bench", "-d must be >= 0");
  std::vector<json> rows;
  std::mt19937 rng(42);
  double bw = 0;
  for (int threads : tl.value()) {
    auto be = make_backend("cpu", threads);
    if (!be.ok()) return fail("bench", be.status().message());
    const auto tload = Clock::now();
    auto m = load_model(o.model, std::shared_ptr<Backend>(std::move(be).value()));
    if (!m.ok()) return fail("bench", m.status().message());
    const double load_s = std::chrono::duration<double>(Clock::now() - tload).count();
    Model& model = *m.value();
    const ModelConfig& c = model.config();
    const int64_t need = int64_t(o.n_depth) + std::max(o.n_prompt, o.n_gen) + 1;
    if (need > c.max_position_embeddings)
      return fail("bench", "-d " + std::to_string(o.n_depth) + " plus -p/-n needs " + std::to_string(need) +
                               " positions; " + o.model + " has a context of " +
                               std::to_string(c.max_position_embeddings));
    if (bw == 0) bw = measure_read_bandwidth(threads);
    std::uniform_int_distribution<int32_t> tok(0, c.vocab_size - 1);
    for (int kind = 0; kind < 2; ++kind) {
      const int n = kind == 0 ? o.n_prompt : o.n_gen;
      if (n == 0) continue;
      std::vector<double> samples_ts, samples_ns;
      // -d: the test runs after n_depth cached tokens (llama-bench's --n-depth). They are
      // prefilled once, untimed, in chunks; each repetition truncates back to them.
      auto cache = model.new_cache(o.n_depth + n + 1);
      if (!cache.ok()) return fail("bench", cache.status().message());
      for (int d0 = 0; d0 < o.n_depth; d0 += 512) {
        std::vector<int32_t> ctx(static_cast<size_t>(std::min(512, o.n_depth - d0)));
        for (auto& t : ctx) t = tok(rng);
        auto res = model.forward({{cache.value().get(), ctx, false}});
        if (!res.ok()) return fail("bench", res.status().message());
      }
      // tg: the probe also runs (untimed) before every repetition and after the last, so each
      // repetition's bandwidth is set against what the machine read just before and after it.
      // On a shared host the bandwidth on offer drifts over seconds (2 MiB-page probes of 25 -
      // 56 GB/s within a minute here); one probe before all runs compares a moment's best with
      // a mean over seconds.
      std::vector<double> probes;
      for (int r = 0; r <= o.reps; ++r) {  // r == 0 is a warm-up
        std::vector<int32_t> toks(static_cast<size_t>(n));
        for (auto& t : toks) t = tok(rng);
        cache.value()->truncate(o.n_depth);
        if (kind == 1 && r > 0) probes.push_back(measure_read_bandwidth(threads));
        const auto t0 = Clock::now();
        if (kind == 0) {
          auto res = model.forward({{cache.value().get(), toks, false}});
          if (!res.ok()) return fail("bench", res.status().message());
        } else {
          for (int i = 0; i < n; ++i) {
            auto res = model.forward({{cache.value().get(), std::span<const int32_t>(&toks[i], 1), false}});
            if (!res.ok()) return fail("bench", res.status().message());
          }
        }
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        if (r == 0) continue;
        samples_ns.push_back(s * 1e9);
        samples_ts.push_back(n / s);
        std::fprintf(stderr, "dsrt bench: %s%d%s t=%d rep %d/%d: %.2f tok/s\n", kind ? "tg" : "pp", n,
                     o.n_depth ? (" @ d" + std::to_string(o.n_depth)).c_str() : "", threads, r, o.reps, n / s);
      }
      if (kind == 1) probes.push_back(measure_read_bandwidth(threads));
      const Stat ts = stats(samples_ts), ns = stats(samples_ns);
      json row = {{"model_filename", o.model},
                  {"model_type", std::string(arch_name(c.arch))},
                  {"model_size", model.weight_stats().weight_bytes},
                  {"model_n_params", model.weight_stats().n_params},
                  {"backends", "CPU"},
                  {"n_threads", threads},
                  {"n_prompt", kind == 0 ? n : 0},
                  {"n_gen", kind == 1 ? n : 0},
                  {"n_depth", o.n_depth},
                  {"avg_ns", int64_t(ns.mean)},
                  {"stddev_ns", int64_t(ns.sd)},
                  {"avg_ts", ts.mean},
                  {"stddev_ts", ts.sd},
                  {"samples_ns", samples_ns},
                  {"samples_ts", samples_ts},
                  {"dsrt_load_s", load_s},
                  {"dsrt_read_bw_gbs", bw}};
      if (kind == 1) {
        const double bpt = active_bytes_per_token(model), gbs = bpt * ts.mean / 1e9;
        // Repetition r is paired with the mean of the probes just before and after it; the
        // reported share is the median of those per-repetition shares.
        std::vector<double> shares;
        for (size_t r = 0; r < samples_ts.size(); ++r) {
          const double around = (probes[r] + probes[r + 1]) / 2;
          if (around > 0) shares.push_back(bpt * samples_ts[r] / 1e9 / around);
        }
        row["dsrt_active_bytes_per_token"] = bpt;
        row["dsrt_weight_gbs"] = gbs;
        row["dsrt_read_bw_during_gbs"] = probes;
        row["dsrt_read_bw_gbs"] = median(probes);
        row["dsrt_bw_fraction"] = median(shares);
        row["dsrt_bw_fraction_first_probe"] = bw > 0 ? gbs / bw : 0;
      }
      rows.push_back(row);
    }
  }
  std::vector<json> peer_rows;
  if (!o.peer.empty()) {
    const std::string cmd = o.peer + " -m '" + o.model + "' -p " + std::to_string(o.n_prompt) + " -n " +
                            std::to_string(o.n_gen) + " -t " + o.threads + " -r " + std::to_string(o.reps) +
                            (o.n_depth ? " -d " + std::to_string(o.n_depth) : std::string()) + " -o json 2>/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    size_t k;
    while (p && (k = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, k);
    const int rc = p ? pclose(p) : -1;
    json pj = json::parse(out, nullptr, false);
    if (rc != 0 || !pj.is_array())
      return fail("bench", "--peer-bench: '" + o.peer + "' did not print llama-bench JSON (exit " +
                               std::to_string(rc) + "); it must accept -m -p -n -t -r -o json" +
                               (o.n_depth ? " -d" : ""));
    for (auto& r : pj) peer_rows.push_back(r);
  }
  if (o.output == "json") {
    json out = rows;
    if (!peer_rows.empty()) out = {{"dsrt", rows}, {"peer", peer_rows}};
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  const std::string depth_label = o.n_depth ? " @ d" + std::to_string(o.n_depth) : "";
  std::printf("| model | size | params | threads | test | t/s | weight GB/s (share of the read GB/s probed around it) |\n");
  std::printf("|---|---:|---:|---:|---|---:|---:|\n");
  for (const json& r : rows) {
    const bool tg = r["n_gen"].get<int>() > 0;
    char bwc[64] = "";
    if (tg)
      std::snprintf(bwc, sizeof bwc, "%.2f (%.0f%% of %.1f)", r["dsrt_weight_gbs"].get<double>(),
                    100 * r["dsrt_bw_fraction"].get<double>(), r["dsrt_read_bw_gbs"].get<double>());
    std::printf("| %s | %.2f MiB | %lld | %d | %s%d%s | %.2f ± %.2f | %s |\n",
                r["model_type"].get<std::string>().c_str(), r["model_size"].get<double>() / 1048576.0,
                (long long)r["model_n_params"].get<int64_t>(), r["n_threads"].get<int>(), tg ? "tg" : "pp",
                tg ? r["n_gen"].get<int>() : r["n_prompt"].get<int>(), depth_label.c_str(), r["avg_ts"].get<double>(),
                r["stddev_ts"].get<double>(), bwc);
  }
  for (const json& pr : peer_rows) {
    const int np = pr.value("n_prompt", 0), ng = pr.value("n_gen", 0), th = pr.value("n_threads", 0);
    for (const json& r : rows)
      if (r["n_prompt"] == np && r["n_gen"] == ng && r["n_threads"] == th && pr.value("n_depth", 0) == o.n_depth)
        std::printf("| peer | | | %d | %s%d%s | %.2f | dsrt/peer = %.2f |\n", th, ng ? "tg" : "pp", ng ? ng : np,
                    depth_label.c_str(), pr.value("avg_ts", 0.0), r["avg_ts"].get<double>() / pr.value("avg_ts", 1.0));
  }
  return 0;
}

DSRT_COMMAND(bench_cmd, "bench", "Prompt-processing and generation throughput (llama-bench style)",
             [](CLI::App& app) -> std::function<int()> {
               auto o = std::make_shared<BenchOpts>();
               app.add_option("-m,--model", o->model, "Model (required unless a sub-mode is given)");
               app.add_option("-p,--n-prompt", o->n_prompt, "Prompt tokens (pp test; 0 = skip)");
               app.add_option("-n,--n-gen", o->n_gen, "Generated tokens (tg test; 0 = skip)");
               app.add_option("-d,--n-depth", o->n_depth, "Run the tests after this many cached context tokens (llama-bench -d)")
                   ->check(CLI::Range(0, 1 << 20));
               app.add_option("-t,--threads", o->threads, "Thread counts, comma-separated");
               app.add_option("-r,--repetitions", o->reps, "Repetitions")->check(CLI::Range(1, 1000));
               app.add_option("-o,--output", o->output, "md | json")->check(CLI::IsMember({"md", "json"}));
               app.add_option("--peer-bench", o->peer, "Path of a llama-bench binary to run on the same file");
               auto modes = add_suite_modes(app);
               auto serve_mode = add_serve_mode(app);
               return [=] {
                 if (auto rc = modes()) return *rc;
                 if (auto rc = serve_mode()) return *rc;
                 if (o->model.empty()) return fail("bench", "--model is required (or a sub-mode: suite, compare)");
                 return run_bench(*o);
               };
             });

}  // namespace
}  // namespace dsrt::cli
