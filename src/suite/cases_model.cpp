// Model-level cases on each model under test (the demo model by default): load time,
// prefill and decode throughput, decode latency percentiles, batched decode, MLA absorbed vs
// naive attention per context, KV-cache and weight bytes, peak RSS of a fresh `dsrt run`, and
// energy per token where the platform has counters.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>

#include "core/quant.h"
#include "models/model.h"
#include "suite/energy.h"
#include "suite/results.h"
#include "suite/stats.h"

extern char** environ;

namespace dsrt::suite {
namespace {

std::vector<int32_t> random_tokens(const Model& m, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> d(0, m.config().vocab_size - 1);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = d(rng);
  return t;
}

Status prefill(Model& m, KvCache* cache, const std::vector<int32_t>& toks) {
  if (toks.empty()) return Status::Ok();
  auto r = m.forward({{cache, std::span<const int32_t>(toks), false}});
  return r.ok() ? Status::Ok() : r.status();
}

// Per-step seconds of `steps` single-token decodes at exactly context `ctx`: each step runs
// at position ctx and the cache is truncated back, so every sample sees the same context.
Result<std::vector<double>> decode_at(Model& m, KvCache* cache, int32_t ctx, int steps, uint64_t seed) {
  const auto toks = random_tokens(m, steps + 1, seed);
  std::vector<double> s;
  for (int i = 0; i <= steps; ++i) {  // step 0 warms up
    cache->truncate(ctx);
    const auto t0 = Clock::now();
    auto r = m.forward({{cache, std::span<const int32_t>(&toks[size_t(i)], 1), false}});
    const double dt = seconds_since(t0);
    if (!r.ok()) return r.status();
    if (i > 0) s.push_back(dt);
  }
  cache->truncate(ctx);
  return s;
}

std::vector<double> inverse(const std::vector<double>& v, double scale = 1) {
  std::vector<double> o;
  for (double x : v) o.push_back(scale / x);
  return o;
}
std::vector<double> scaled(const std::vector<double>& v, double k) {
  std::vector<double> o;
  for (double x : v) o.push_back(x * k);
  return o;
}

CaseResult load_case(CaseContext& c) {
  CaseResult r;
  const int reps = c.quick() ? 2 : 3;
  r.params = {{"path", c.model->path}, {"backend", "cpu"}, {"threads", c.threads}, {"page_cache", "warm"}};
  r.repetitions = reps;
  std::vector<double> s = {c.model->load_s};  // the suite's own first load
  for (int i = 1; i < reps; ++i) {
    auto be = make_backend("cpu", c.threads);
    if (!be.ok()) return CaseResult::error(be.status().message(), r.params);
    const auto t0 = Clock::now();
    auto m = load_model(c.model->path, std::shared_ptr<Backend>(std::move(be).value()));
    if (!m.ok()) return CaseResult::error(m.status().message(), r.params);
    s.push_back(seconds_since(t0));
  }
  r.add("load_s", "s", s, {}, "lower");
  r.extra["note"] = "sample 0 is the suite's first load of the model in this process";
  return r;
}

CaseResult prefill_case(CaseContext& c) {
  Model& m = *c.model->model;
  const std::vector<int> lens = c.quick() ? std::vector<int>{128, 512} : std::vector<int>{128, 512, 2048};
  const int reps = c.quick() ? 2 : 3;
  CaseResult r;
  r.params = {{"n_prompt", lens}, {"threads", c.threads}, {"attn", "absorb"}, {"tokens", "uniform random ids"}};
  r.repetitions = reps;
  for (int n : lens) {
    std::vector<double> tps;
    for (int rep = 0; rep <= reps; ++rep) {
      auto cache = m.new_cache(n + 1);
      if (!cache.ok()) return CaseResult::error(cache.status().message(), r.params);
      const auto toks = random_tokens(m, n, uint64_t(rep) + 1);
      const auto t0 = Clock::now();
      Status st = prefill(m, cache.value().get(), toks);
      const double s = seconds_since(t0);
      if (!st.ok()) return CaseResult::error(st.message(), r.params);
      if (rep > 0) tps.push_back(n / s);
    }
    c.progress("pp" + std::to_string(n) + ": " + std::to_string(summarize(tps).mean) + " tok/s");
    r.add("prefill_tok_s", "tok/s", tps, {{"n_prompt", n}});
  }
  return r;
}

CaseResult decode_b1_case(CaseContext& c) {
  Model& m = *c.model->model;
  const std::vector<int> ctxs = c.quick() ? std::vector<int>{0, 1024} : std::vector<int>{0, 1024, 4096};
  const int steps = c.quick() ? 8 : 32;
  CaseResult r;
  r.params = {{"ctx", ctxs}, {"steps", steps}, {"batch", 1}, {"threads", c.threads}, {"attn", "absorb"}};
  r.repetitions = steps;
  const int max_ctx = ctxs.back();
  auto cache = m.new_cache(max_ctx + 2);
  if (!cache.ok()) return CaseResult::error(cache.status().message(), r.params);
  c.progress("prefilling " + std::to_string(max_ctx) + " positions");
  Status st = prefill(m, cache.value().get(), random_tokens(m, max_ctx, 3));
  if (!st.ok()) return CaseResult::error(st.message(), r.params);
  for (auto it = ctxs.rbegin(); it != ctxs.rend(); ++it) {  // truncate() only shrinks
    auto s = decode_at(m, cache.value().get(), *it, steps, 4);
    if (!s.ok()) return CaseResult::error(s.status().message(), r.params);
    c.progress("tg at ctx " + std::to_string(*it) + ": " + std::to_string(1.0 / summarize(s.value()).mean) + " tok/s");
    r.add("decode_tok_s", "tok/s", inverse(s.value()), {{"ctx", *it}});
    r.add("token_latency", "ms", scaled(s.value(), 1e3), {{"ctx", *it}}, "lower");
  }
  return r;
}

CaseResult decode_batch_case(CaseContext& c) {
  Model& m = *c.model->model;
  const std::vector<int> batches = {1, 4, 16};
  const int steps = c.quick() ? 4 : 16, prompt = c.quick() ? 32 : 128;
  CaseResult r;
  r.params = {{"batch", batches}, {"steps", steps}, {"prompt_per_seq", prompt}, {"threads", c.threads},
              {"api", "Model::forward with one SeqInput per sequence"}};
  r.repetitions = steps;
  for (int b : batches) {
    std::vector<std::unique_ptr<KvCache>> caches;
    for (int i = 0; i < b; ++i) {
      auto kc = m.new_cache(prompt + 2);
      if (!kc.ok()) return CaseResult::error(kc.status().message(), r.params);
      Status st = prefill(m, kc.value().get(), random_tokens(m, prompt, 100 + i));
      if (!st.ok()) return CaseResult::error(st.message(), r.params);
      caches.push_back(std::move(kc).value());
    }
    const auto toks = random_tokens(m, b, 7);
    std::vector<double> step_s;
    for (int s = 0; s <= steps; ++s) {
      std::vector<SeqInput> batch;
      for (int i = 0; i < b; ++i) {
        caches[size_t(i)]->truncate(prompt);
        batch.push_back({caches[size_t(i)].get(), std::span<const int32_t>(&toks[size_t(i)], 1), false});
      }
      const auto t0 = Clock::now();
      auto out = m.forward(batch);
      const double dt = seconds_since(t0);
      if (!out.ok()) return CaseResult::error(out.status().message(), r.params);
      if (s > 0) step_s.push_back(dt);
    }
    c.progress("batch " + std::to_string(b) + ": " + std::to_string(b / summarize(step_s).mean) + " tok/s");
    r.add("decode_tok_s", "tok/s", inverse(step_s, b), {{"batch", b}});
    r.add("step_latency", "ms", scaled(step_s, 1e3), {{"batch", b}}, "lower");
  }
  return r;
}

CaseResult mla_forms_case(CaseContext& c) {
  Model& m = *c.model->model;
  if (!m.config().is_deepseek())
    return CaseResult::unavailable("model is " + std::string(arch_name(m.config().arch)) +
                                   " (GQA): MLA absorbed vs naive applies to DeepSeek V2/V3 only");
  const std::vector<int> ctxs = c.quick() ? std::vector<int>{256, 1024} : std::vector<int>{256, 1024, 4096};
  const int steps = c.quick() ? 4 : 16;
  CaseResult r;
  r.params = {{"ctx", ctxs}, {"steps", steps}, {"threads", c.threads}, {"batch", 1},
              {"forms", {"absorb", "naive"}}, {"level", "model forward (ModelOptions::attn)"}};
  r.repetitions = steps;
  auto be = make_backend("cpu", c.threads);
  if (!be.ok()) return CaseResult::error(be.status().message(), r.params);
  ModelOptions naive_opt;
  naive_opt.attn = AttnForm::Naive;
  auto naive = load_model(c.model->path, std::shared_ptr<Backend>(std::move(be).value()), naive_opt);
  if (!naive.ok()) return CaseResult::error(naive.status().message(), r.params);
  // Both forms read the same cache (latent + rope key), so one prefill serves both.
  auto cache = m.new_cache(ctxs.back() + 2);
  if (!cache.ok()) return CaseResult::error(cache.status().message(), r.params);
  c.progress("prefilling " + std::to_string(ctxs.back()) + " positions");
  Status st = prefill(m, cache.value().get(), random_tokens(m, ctxs.back(), 5));
  if (!st.ok()) return CaseResult::error(st.message(), r.params);
  for (auto it = ctxs.rbegin(); it != ctxs.rend(); ++it)
    for (int form = 0; form < 2; ++form) {
      Model& mm = form == 0 ? m : *naive.value();
      auto s = decode_at(mm, cache.value().get(), *it, steps, 6);
      if (!s.ok()) return CaseResult::error(s.status().message(), r.params);
      const json lab = {{"attn", form == 0 ? "absorb" : "naive"}, {"ctx", *it}};
      r.add("decode_tok_s", "tok/s", inverse(s.value()), lab);
      r.add("token_latency", "ms", scaled(s.value(), 1e3), lab, "lower");
      c.progress(std::string(form == 0 ? "absorb" : "naive") + " ctx " + std::to_string(*it) + ": " +
                 std::to_string(1.0 / summarize(s.value()).mean) + " tok/s");
    }
  return r;
}

CaseResult kv_bytes_case(CaseContext& c) {
  const Model& m = *c.model->model;
  const ModelConfig& cf = m.config();
  const double L = cf.num_hidden_layers;
  const double ours = double(m.cache_values_per_token_layer()) * L * 4;
  // What a plain multi-head cache of the same model would hold: a K row (qk_head_dim) and a V
  // row (v_head_dim) per head for MLA models; K and V for every query head for GQA models.
  const double hd = cf.head_dim > 0 ? cf.head_dim : double(cf.hidden_size) / cf.num_attention_heads;
  const double mha = cf.is_deepseek() ? double(cf.num_attention_heads) * (cf.qk_head_dim() + cf.v_head_dim) * L * 4
                                      : 2.0 * cf.num_attention_heads * hd * L * 4;
  CaseResult r;
  r.params = {{"element_bytes", 4}, {"n_layer", cf.num_hidden_layers},
              {"attention", cf.is_deepseek() ? "MLA" : "GQA"}, {"probe_ctx", 1024}};
  r.repetitions = 1;
  r.add("kv_bytes_per_token", "bytes", {ours}, {{"layout", cf.is_deepseek() ? "mla" : "gqa"}}, "lower").kind =
      "computed";
  r.add("kv_bytes_per_token", "bytes", {mha}, {{"layout", "mha_equivalent"}}, "lower").kind = "computed";
  auto cache = m.new_cache(1024);
  if (!cache.ok()) return CaseResult::error(cache.status().message(), r.params);
  r.add("allocated_bytes_per_token", "bytes", {double(cache.value()->bytes()) / 1024.0},
        {{"layout", cf.is_deepseek() ? "mla" : "gqa"}}, "lower");
  r.extra["mha_over_ours"] = mha / ours;
  r.extra["values_per_token_layer"] = m.cache_values_per_token_layer();
  return r;
}

CaseResult weights_case(CaseContext& c) {
  const Model& m = *c.model->model;
  const WeightStats& w = m.weight_stats();
  CaseResult r;
  r.params = {{"n_params", w.n_params}, {"method", "n_params x bytes per element of the type (block-aware)"}};
  r.repetitions = 1;
  r.add("weight_bytes", "bytes", {double(w.weight_bytes)}, {{"dtype", "as_stored"}}, "lower");
  for (DType t : {DType::F32, DType::BF16, DType::F16, DType::F8_E4M3, DType::Q8_0, DType::Q6_K, DType::Q5_K,
                  DType::Q4_K, DType::Q4_0, DType::Q3_K, DType::Q2_K}) {
    const DTypeInfo& di = dtype_info(t);
    double b = double(w.n_params) * di.block_bytes / di.block_size;
    if (t == DType::F8_E4M3) b += double(w.n_params) / (128.0 * 128.0) * 4;  // block scales
    r.add("weight_bytes", "bytes", {b}, {{"dtype", di.name}}, "lower").kind = "computed";
  }
  json by = json::object();
  for (const auto& [dt, n] : w.params_by_dtype) by[dt] = n;
  r.extra["params_by_dtype_as_stored"] = by;
  return r;
}

// Runs `dsrt run` on the model in a fresh process and reads its peak RSS from wait4(): the
// memory a user's generation run takes (mapped weight pages it touched count), separate from
// this process's benchmark buffers.
CaseResult peak_rss_case(CaseContext& c) {
  CaseResult r;
  const int n_gen = 16, reps = c.quick() ? 1 : 2;
  r.params = {{"command", "dsrt run --model PATH --prompt <fixed> -n 16 --seed 1"}, {"threads", c.threads},
              {"n_gen", n_gen}};
  if (c.self_exe.empty()) return CaseResult::unavailable("the dsrt binary path is unknown", r.params);
  r.repetitions = reps;
  std::vector<double> rss, wall;
  for (int i = 0; i < reps; ++i) {
    std::vector<std::string> args = {c.self_exe, "run", "--model", c.model->path, "--prompt",
                                     "Measure the memory of one generation run.", "-n", std::to_string(n_gen),
                                     "--seed", "1", "-t", std::to_string(c.threads)};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    // `dsrt run` prints its own peak RSS (VmHWM) on stderr: wait4's ru_maxrss would carry this
    // (large) suite process's high-water mark across posix_spawn's vfork + exec.
    const std::string err_path = "/tmp/dsrt-suite-rss-" + std::to_string(getpid()) + ".txt";
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = 0;
    const auto t0 = Clock::now();
    const int rc = posix_spawn(&pid, c.self_exe.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return CaseResult::error("cannot start " + c.self_exe + " run", r.params);
    int status = 0;
    rusage ru{};
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return CaseResult::error("`dsrt run` on " + c.model->path + " failed (exit " +
                                   std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")",
                               r.params);
    wall.push_back(seconds_since(t0));
    std::ifstream ef(err_path);
    const std::string err((std::istreambuf_iterator<char>(ef)), {});
    std::remove(err_path.c_str());
    const size_t at = err.rfind("peak RSS ");
    if (at == std::string::npos)
      return CaseResult::error("`dsrt run` did not report its peak RSS", r.params);
    rss.push_back(std::strtod(err.c_str() + at + 9, nullptr) * 1048576.0);
  }
  r.add("peak_rss_bytes", "bytes", rss, {}, "lower");
  r.add("run_wall_s", "s", wall, {}, "lower");
  r.extra["weight_bytes"] = c.model->model->weight_stats().weight_bytes;
  return r;
}

CaseResult energy_case(CaseContext& c) {
  EnergyMeter meter;
  CaseResult r;
  const int n_gen = c.quick() ? 16 : 64, n_prompt = c.quick() ? 128 : 512;
  r.params = {{"n_prompt", n_prompt}, {"n_gen", n_gen}, {"threads", c.threads}};
  if (!meter.available()) {
    r.status = "unavailable";
    r.reason = meter.why_unavailable();
    r.extra["energy_j_per_token"] = "unavailable";
    return r;
  }
  r.params["source"] = meter.source();
  Model& m = *c.model->model;
  auto cache = m.new_cache(n_prompt + n_gen + 1);
  if (!cache.ok()) return CaseResult::error(cache.status().message(), r.params);
  const auto toks = random_tokens(m, n_prompt + n_gen, 9);
  meter.start();
  auto t0 = Clock::now();
  Status st = prefill(m, cache.value().get(), std::vector<int32_t>(toks.begin(), toks.begin() + n_prompt));
  if (!st.ok()) return CaseResult::error(st.message(), r.params);
  const double pj = meter.joules(), ps = seconds_since(t0);
  meter.start();
  t0 = Clock::now();
  for (int i = 0; i < n_gen; ++i) {
    auto out = m.forward({{cache.value().get(), std::span<const int32_t>(&toks[size_t(n_prompt + i)], 1), false}});
    if (!out.ok()) return CaseResult::error(out.status().message(), r.params);
  }
  const double dj = meter.joules(), ds = seconds_since(t0);
  r.repetitions = 1;
  r.add("prefill_j_per_token", "J/tok", {pj / n_prompt}, {}, "lower");
  r.add("decode_j_per_token", "J/tok", {dj / n_gen}, {}, "lower");
  r.add("decode_avg_power", "W", {dj / ds}, {}, "none");
  r.add("prefill_avg_power", "W", {pj / ps}, {}, "none");
  r.extra["note"] = "whole-package (or whole-GPU) energy: idle and neighbour load are included";
  return r;
}

}  // namespace

void add_model_cases(std::vector<CaseDef>& out) {
  out.push_back({"model.load_time", 1, "model", "Model load time", true, load_case});
  out.push_back({"model.prefill", 1, "model", "Prefill tokens/s at 128/512/2048", true, prefill_case});
  out.push_back({"model.decode_b1", 1, "model", "Decode tokens/s, batch 1, per context", true, decode_b1_case});
  out.push_back({"model.decode_batch", 1, "model", "Decode tokens/s at batch 1/4/16", true, decode_batch_case});
  out.push_back({"attn.mla_absorb_vs_naive", 1, "attention", "MLA absorbed vs naive decode per context", true,
                 mla_forms_case});
  out.push_back({"memory.kv_bytes_per_token", 1, "memory", "KV cache bytes per token (MLA vs MHA)", true,
                 kv_bytes_case});
  out.push_back({"memory.weights_by_precision", 1, "memory", "Weights memory per precision", true, weights_case});
  out.push_back({"memory.peak_rss", 1, "memory", "Peak RSS of `dsrt run`", true, peak_rss_case});
  out.push_back({"energy.per_token", 1, "energy", "Energy per token", true, energy_case});
}

}  // namespace dsrt::suite
