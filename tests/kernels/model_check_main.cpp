// Whole-model checks without gtest or the CLI, for builds that have neither (the aarch64
// cross build of scripts/check-aarch64.sh, run under qemu-aarch64): the vendored models of
// tests/data through the "cpu" backend against references nobody here wrote.
//  - oracle/v3-tiny-fp8 (DeepSeek-V3 architecture, FP8 block-scaled weights) against the
//    logits of DeepSeek's official inference/model.py, prefill and decode, max |ours - ref| /
//    max |ref| <= 1e-4: the tolerance of tests/models/test_oracle.cpp (float32 noise is ~1e-6,
//    every semantic mistake moves it by 0.04 or more).
//  - gguf/tiny-llama-q2_k.gguf (llama; Q2_K..Q6_K) and gguf/v2lite-tiny-q4_0.gguf (deepseek2;
//    Q4_0, Q6_K) against llama.cpp's logits, <= 3e-2: the kQuantTol of
//    tests/gguf_models/test_gguf_models.cpp (llama.cpp quantizes activations to 8 bits in its
//    dot products, and differs from its own dequantized-F32 copy by 1.4e-2..2.3e-2).
// The same program runs natively as a ctest, so it cannot rot between cross builds.
// Usage: model_check REPO_DIR
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "models/model.h"

namespace {

using nlohmann::json;
using Rows = std::map<int, std::vector<float>>;  // position -> logits

int g_fail = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    ++g_fail;
    std::printf("FAIL %s\n", what.c_str());
  }
}

bool read_json(const std::string& path, json* out) {
  std::ifstream in(path);
  if (!in.good()) return false;
  *out = json::parse(in, nullptr, false);
  return !out->is_discarded();
}

std::unique_ptr<dsrt::Model> load(const std::string& path) {
  auto be = dsrt::make_backend("cpu", 2);
  if (!be.ok()) return nullptr;
  auto m = dsrt::load_model(path, std::shared_ptr<dsrt::Backend>(std::move(be).value()), {});
  if (!m.ok()) {
    std::printf("load %s: %s\n", path.c_str(), m.status().message().c_str());
    return nullptr;
  }
  return std::move(m).value();
}

// Our logits for tokens t: every position of one forward (prefill_len < 0), or tokens[:K] in
// one forward then one token at a time (the row of K - 1, then of each later position).
Rows run(dsrt::Model& m, const std::vector<int32_t>& t, int prefill_len) {
  Rows rows;
  auto cache = m.new_cache(int32_t(t.size()));
  if (!cache.ok()) return rows;
  auto keep = [&](int p0, const dsrt::Tensor& lg) {
    for (int64_t i = 0; i < lg.rows(); ++i)
      rows[p0 + int(i)].assign(lg.f32() + i * lg.cols(), lg.f32() + (i + 1) * lg.cols());
  };
  const bool all = prefill_len < 0;
  const size_t k = all ? t.size() : size_t(prefill_len);
  auto r = m.forward({{cache.value().get(), std::span<const int32_t>(t.data(), k), all}});
  if (!r.ok()) return rows;
  keep(all ? 0 : int(k) - 1, r.value());
  for (size_t p = k; p < t.size(); ++p) {
    auto d = m.forward({{cache.value().get(), std::span<const int32_t>(&t[p], 1), false}});
    if (!d.ok()) return rows;
    keep(int(p), d.value());
  }
  return rows;
}

// max over the given positions of max |ours - ref| / max_abs; infinity for a missing row.
double worst(const Rows& ours, const std::vector<std::pair<int, const json*>>& ref, double max_abs) {
  double w = 0;
  for (const auto& [pos, logits] : ref) {
    auto it = ours.find(pos);
    if (it == ours.end() || it->second.size() != logits->size()) return INFINITY;
    for (size_t v = 0; v < it->second.size(); ++v)
      w = std::max(w, std::fabs(double(it->second[v]) - (*logits)[v].get<double>()) / max_abs);
  }
  return w;
}

void oracle(const std::string& dir) {
  constexpr double kTol = 1e-4;
  json cases;
  check(read_json(dir + "/cases.json", &cases), dir + "/cases.json readable");
  auto m = load(dir);
  check(m != nullptr, dir + " loads");
  if (!m || g_fail) return;
  for (const json& cs : cases["cases"]) {
    const auto t = cs["tokens"].get<std::vector<int32_t>>();
    const double max_abs = cs["max_abs_logit"].get<double>();
    std::vector<std::pair<int, const json*>> pre, dec;
    const json& all = cs["prefill"]["all_logits"];
    for (size_t p = 0; p < all.size(); ++p) pre.push_back({int(p), &all[p]});
    const json& d = cs["decode"];
    for (size_t j = 0; j < d["positions"].size(); ++j) dec.push_back({d["positions"][j].get<int>(), &d["logits"][j]});
    const double ep = worst(run(*m, t, -1), pre, max_abs);
    const double ed = worst(run(*m, t, d["prefill_len"].get<int>()), dec, max_abs);
    const std::string id = cs["id"].get<std::string>();
    std::printf("  oracle v3-tiny-fp8 %-10s prefill %.2e  decode %.2e  (bound %.0e)\n", id.c_str(), ep, ed, kTol);
    check(ep <= kTol, "oracle " + id + " prefill");
    check(ed <= kTol, "oracle " + id + " decode");
  }
}

void gguf(const std::string& file, const std::string& ref_path) {
  constexpr double kQuantTol = 3e-2;
  json ref;
  check(read_json(ref_path, &ref), ref_path + " readable");
  auto m = load(file);
  check(m != nullptr, file + " loads");
  if (!m || g_fail) return;
  for (const json& cs : ref["cases"]) {
    const auto t = cs["tokens"].get<std::vector<int32_t>>();
    for (const char* path : {"prefill", "decode"}) {
      const bool pre = std::string(path) == "prefill";
      std::vector<std::pair<int, const json*>> rows;
      double max_abs = 0;
      for (const json& r : cs[path]["rows"]) {
        rows.push_back({r["pos"].get<int>(), &r["logits"]});
        for (const json& x : r["logits"]) max_abs = std::max(max_abs, std::fabs(x.get<double>()));
      }
      const double e = worst(run(*m, t, pre ? -1 : cs["decode"]["prefill_len"].get<int>()), rows, max_abs);
      const std::string name = file.substr(file.find_last_of('/') + 1);
      std::printf("  %-28s %-7s %.2e  (bound %.0e)\n", name.c_str(), path, e, kQuantTol);
      check(e <= kQuantTol, name + " " + path);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: model_check REPO_DIR\n");
    return 2;
  }
  const std::string repo = argv[1];
  oracle(repo + "/tests/data/oracle/v3-tiny-fp8");
  gguf(repo + "/tests/data/gguf/tiny-llama-q2_k.gguf",
       repo + "/tests/gguf_models/data/tiny-llama-q2_k.llamacpp_logits.case0.json");
  gguf(repo + "/tests/data/gguf/v2lite-tiny-q4_0.gguf",
       repo + "/tests/gguf_models/data/v2lite-tiny-q4_0.llamacpp_logits.case0.json");
  std::printf("model_check: %s\n", g_fail ? "FAILED" : "all models match their references");
  return g_fail ? 1 : 0;
}
