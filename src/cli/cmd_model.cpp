// `dsrt info` and `dsrt logits`: load a checkpoint, describe it, print raw logits.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/command.h"
#include "cli/common.h"
#include "models/model.h"

namespace dsrt::cli {
namespace {

int run_info(const std::string& path, const std::string& backend_name, int ctx, bool json_out) {
  auto be = make_backend(backend_name, 1);
  if (!be.ok()) return fail("info", be.status().message());
  auto m = load_model(path, std::shared_ptr<Backend>(std::move(be).value()));
  if (!m.ok()) return fail("info", m.status().message());
  const Model& model = *m.value();
  const ModelConfig& c = model.config();
  const WeightStats& ws = model.weight_stats();
  const int64_t kv_tok = model.cache_values_per_token_layer() * c.num_hidden_layers * 4;
  const int64_t mha_tok = c.is_deepseek()
                              ? int64_t(2) * c.num_attention_heads *
                                    std::max(c.qk_head_dim(), c.v_head_dim) *
                                    c.num_hidden_layers * 4
                              : kv_tok;
  nlohmann::json j;
  j["model"] = path;
  j["architecture"] = arch_name(c.arch);
  j["n_layer"] = c.num_hidden_layers;
  j["hidden_size"] = c.hidden_size;
  j["n_head"] = c.num_attention_heads;
  j["n_head_kv"] = c.num_key_value_heads;
  j["vocab_size"] = c.vocab_size;
  j["n_params"] = ws.n_params;
  for (const auto& [dt, n] : ws.params_by_dtype) j["params_by_dtype"][dt] = n;
  j["weight_bytes"] = ws.weight_bytes;
  j["kv_cache_bytes_per_token"] = kv_tok;
  j["context"] = ctx;
  j["kv_cache_bytes"] = kv_tok * ctx;
  j["memory_needed_bytes"] = int64_t(ws.weight_bytes) + kv_tok * ctx;
  if (c.is_deepseek()) {
    j["attention"] = c.q_lora_rank > 0 ? "MLA (q LoRA)" : "MLA";
    j["kv_lora_rank"] = c.kv_lora_rank;
    j["mha_equivalent_kv_bytes_per_token"] = mha_tok;
    if (c.n_routed_experts > 0) {
      j["moe"] = {{"n_routed_experts", c.n_routed_experts},
                  {"n_shared_experts", c.n_shared_experts},
                  {"experts_per_token", c.num_experts_per_tok},
                  {"scoring_func", c.scoring_func},
                  {"topk_method", c.topk_method}};
    }
  }
  if (json_out) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  auto mib = [](double b) { return b / (1024.0 * 1024.0); };
  std::printf("model          %s\n", path.c_str());
  std::printf("architecture   %s", arch_name(c.arch));
  if (c.is_deepseek())
    std::printf(" (%s, %d routed + %d shared experts, top-%d, %s/%s)",
                j["attention"].get<std::string>().c_str(), c.n_routed_experts, c.n_shared_experts,
                c.num_experts_per_tok, c.scoring_func.c_str(), c.topk_method.c_str());
  std::printf("\nlayers         %d, hidden %d, heads %d/%d, vocab %d\n", c.num_hidden_layers,
              c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.vocab_size);
  std::printf("parameters     %lld (", (long long)ws.n_params);
  for (size_t i = 0; i < ws.params_by_dtype.size(); ++i)
    std::printf("%s%s %lld", i ? ", " : "", ws.params_by_dtype[i].first.c_str(),
                (long long)ws.params_by_dtype[i].second);
  std::printf(")\nweights        %.2f MiB\n", mib(double(ws.weight_bytes)));
  std::printf("kv cache       %lld bytes/token", (long long)kv_tok);
  if (c.is_deepseek())
    std::printf(" (MHA equivalent %lld: %.1fx smaller)", (long long)mha_tok,
                double(mha_tok) / double(kv_tok));
  std::printf("\nmemory needed  %.2f MiB at context %d (weights + f32 KV cache)\n",
              mib(double(ws.weight_bytes) + double(kv_tok) * ctx), ctx);
  return 0;
}

int run_logits(const std::string& path, const std::string& tokens_s, int prefill_len,
               const std::string& attn, int threads, const std::string& backend_name) {
  auto toks = parse_id_list(tokens_s);
  if (!toks.ok()) return fail("logits", "--tokens: " + toks.status().message());
  const std::vector<int32_t>& t = toks.value();
  if (prefill_len != -1 && (prefill_len < 1 || prefill_len > int(t.size())))
    return fail("logits", "--prefill-len must be in 1.." + std::to_string(t.size()));
  ModelOptions mo;
  mo.attn = attn == "naive"    ? AttnForm::Naive
            : attn == "absorb" ? AttnForm::Absorb
            : attn == "expand" ? AttnForm::Expand
                               : AttnForm::Auto;
  auto be = make_backend(backend_name, threads);
  if (!be.ok()) return fail("logits", be.status().message());
  auto m = load_model(path, std::shared_ptr<Backend>(std::move(be).value()), mo);
  if (!m.ok()) return fail("logits", m.status().message());
  Model& model = *m.value();
  for (int32_t id : t)
    if (id < 0 || id >= model.config().vocab_size)
      return fail("logits", "token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                                std::to_string(model.config().vocab_size - 1) + ")");
  auto cache = model.new_cache(int32_t(t.size()));
  if (!cache.ok()) return fail("logits", cache.status().message());
  std::vector<std::pair<int, Tensor>> rows;  // (first position, logits rows)
  const auto t_start = std::chrono::steady_clock::now();
  if (prefill_len == -1) {
    auto r = model.forward({{cache.value().get(), std::span<const int32_t>(t), true}});
    if (!r.ok()) return fail("logits", r.status().message());
    rows.push_back({0, std::move(r).value()});
  } else {
    auto r = model.forward(
        {{cache.value().get(), std::span<const int32_t>(t.data(), size_t(prefill_len)), false}});
    if (!r.ok()) return fail("logits", r.status().message());
    rows.push_back({prefill_len - 1, std::move(r).value()});
    for (size_t p = size_t(prefill_len); p < t.size(); ++p) {
      auto d = model.forward({{cache.value().get(), std::span<const int32_t>(&t[p], 1), false}});
      if (!d.ok()) return fail("logits", d.status().message());
      rows.push_back({int(p), std::move(d).value()});
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  // Hand-formatted so that 9 significant digits (float32 round-trip) are kept and a 100k
  // vocab prints quickly.
  std::string out = "{\"n_vocab\": " + std::to_string(model.config().vocab_size) + ", \"rows\": [";
  char buf[32];
  bool first = true;
  for (auto& [p0, lg] : rows)
    for (int64_t i = 0; i < lg.rows(); ++i) {
      out += first ? "" : ", ";
      first = false;
      out += "{\"pos\": " + std::to_string(p0 + i) + ", \"logits\": [";
      for (int64_t v = 0; v < lg.cols(); ++v) {
        std::snprintf(buf, sizeof buf, v ? ", %.9g" : "%.9g", lg.f32()[i * lg.cols() + v]);
        out += buf;
      }
      out += "]}";
    }
  out += "]}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fprintf(stderr, "dsrt logits: %zu tokens in %.3f s (%.1f tok/s)\n", t.size(), secs,
               double(t.size()) / secs);
  return 0;
}

DSRT_COMMAND(info_cmd, "info", "Describe a model: architecture, parameters, dtypes, memory",
             [](CLI::App& app) -> std::function<int()> {
               auto path = std::make_shared<std::string>();
               auto backend = std::make_shared<std::string>("cpu");
               auto ctx = std::make_shared<int>(4096);
               auto json_out = std::make_shared<bool>(false);
               app.add_option("-m,--model", *path, "Checkpoint folder")->required();
               app.add_option("-c,--ctx-size", *ctx, "Context for the memory estimate")
                   ->check(CLI::Range(1, 1 << 24));
               app.add_flag("--json", *json_out, "Print JSON");
               app.add_option("--backend", *backend, "cpu | cpu-ref");
               return [=] { return run_info(*path, *backend, *ctx, *json_out); };
             });

DSRT_COMMAND(logits_cmd, "logits", "Print the logits for a token sequence as JSON",
             [](CLI::App& app) -> std::function<int()> {
               auto path = std::make_shared<std::string>();
               auto tokens = std::make_shared<std::string>();
               auto prefill = std::make_shared<int>(-1);
               auto attn = std::make_shared<std::string>("auto");
               auto threads = std::make_shared<int>(0);
               auto backend = std::make_shared<std::string>("cpu");
               app.add_option("-m,--model", *path, "Checkpoint folder")->required();
               app.add_option("--tokens", *tokens, "Comma-separated token ids")->required();
               app.add_option("--prefill-len", *prefill,
                              "Prefill this many tokens, then decode the rest one at a time");
               app.add_option("--attn", *attn, "MLA form: naive | absorb | expand | auto (default)")
                   ->check(CLI::IsMember({"naive", "absorb", "expand", "auto"}));
               app.add_option("-t,--threads", *threads, "Threads (0 = all cores)")
                   ->check(CLI::Range(0, 1024));
               app.add_option("--backend", *backend, "cpu | cpu-ref");
               return [=] {
                 return run_logits(*path, *tokens, *prefill, *attn, *threads, *backend);
               };
             });

}  // namespace
}  // namespace dsrt::cli
