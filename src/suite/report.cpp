#include "suite/report.h"

#include <cstdio>
#include <fstream>
#include <map>

#include "suite/suite.h"
#include "suite/svg.h"

namespace dsrt::suite {

const json* find_case(const json& doc, const std::string& id, const std::string& model) {
  if (!doc.contains("cases")) return nullptr;
  for (const json& c : doc["cases"])
    if (c.value("id", "") == id && (model.empty() || (c["model"].is_string() && c["model"] == model))) return &c;
  return nullptr;
}

const json* find_metric(const json& c, const std::string& name, const json& labels) {
  if (!c.contains("metrics")) return nullptr;
  for (const json& m : c["metrics"]) {
    if (m.value("name", "") != name) continue;
    bool ok = true;
    for (auto it = labels.begin(); it != labels.end(); ++it)
      if (!m["labels"].contains(it.key()) || m["labels"][it.key()] != it.value()) ok = false;
    if (ok) return &m;
  }
  return nullptr;
}

double metric_value(const json& doc, const std::string& id, const std::string& name, const json& labels,
                    const std::string& field) {
  const json* c = find_case(doc, id);
  if (!c || c->value("status", "") != "ok") return NAN;
  const json* m = find_metric(*c, name, labels);
  if (!m || !m->contains(field) || !(*m)[field].is_number()) return NAN;
  return (*m)[field].get<double>();
}

std::string labels_str(const json& labels) {
  std::string s;
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    s += (s.empty() ? "" : ", ") + it.key() + "=";
    s += it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
  }
  return s;
}

std::string machine_name(const json& doc) {
  const json& h = doc["hardware"];
  std::string s = h["cpu"].value("model", "unknown CPU");
  s += ", " + std::to_string(h["cpu"].value("logical_cpus", 0)) + " threads";
  char b[64];
  std::snprintf(b, sizeof b, ", %.0f GiB", h["memory"].value("total_bytes", 0.0) / double(1 << 30));
  return s + b;
}

const std::vector<Headline>& headlines() {
  static const std::vector<Headline> h = {
      {"memory read bandwidth (GB/s)", "mem.read_bw", "read_bw", json::object(), "max", "machine"},
      {"triad bandwidth (GB/s)", "mem.triad_bw", "triad_bw", json::object(), "max", "machine"},
      {"FP32 FMA peak (GFLOP/s)", "cpu.fp32_fma_peak", "fp32_peak", json::object(), "max", "machine"},
      {"int8 dot peak (GOP/s)", "cpu.int8_dot_peak", "int8_peak", json::object(), "max", "machine"},
      {"matmul BF16 n=1 (weight GB/s)", "matmul.bf16", "weight_gbs", {{"n", 1}}, "mean", "throughput"},
      {"matmul Q4_K n=1 (weight GB/s)", "matmul.q4_k", "weight_gbs", {{"n", 1}}, "mean", "throughput"},
      {"matmul F32 n=64 (GFLOP/s)", "matmul.f32", "gflops", {{"n", 64}}, "mean", "throughput"},
      {"prefill 512 (tok/s)", "model.prefill", "prefill_tok_s", {{"n_prompt", 512}}, "mean", "throughput"},
      {"decode b1 ctx 0 (tok/s)", "model.decode_b1", "decode_tok_s", {{"ctx", 0}}, "mean", "throughput"},
      {"decode b1 ctx 1024 (tok/s)", "model.decode_b1", "decode_tok_s", {{"ctx", 1024}}, "mean", "throughput"},
      {"decode batch 16 (tok/s)", "model.decode_batch", "decode_tok_s", {{"batch", 16}}, "mean", "throughput"},
      {"token latency ctx 0 p50 (ms)", "model.decode_b1", "token_latency", {{"ctx", 0}}, "p50", "latency"},
      {"token latency ctx 0 p99 (ms)", "model.decode_b1", "token_latency", {{"ctx", 0}}, "p99", "latency"},
      {"load time (s)", "model.load_time", "load_s", json::object(), "min", "latency"},
      {"KV cache (bytes/token)", "memory.kv_bytes_per_token", "kv_bytes_per_token", {{"layout", "mla"}}, "mean",
       "memory"},
      {"peak RSS of dsrt run (MiB)", "memory.peak_rss", "peak_rss_bytes", json::object(), "max", "memory"},
      {"tokenizer encode (MB/s)", "tokenizer.encode", "encode_mb_s", json::object(), "mean", "throughput"},
      {"decode energy (J/token)", "energy.per_token", "decode_j_per_token", json::object(), "mean", "efficiency"},
  };
  return h;
}

namespace {

double headline_value(const json& doc, const Headline& h) {
  double v = metric_value(doc, h.case_id, h.metric, h.labels, h.field);
  if (h.metric == "peak_rss_bytes") v /= double(1 << 20);
  return v;
}

std::string cell(double v) { return std::isfinite(v) ? fmt_num(v) : "n/a"; }

std::string compact(const json& j) {
  std::string s = j.dump();
  return s.size() > 300 ? s.substr(0, 297) + "..." : s;
}

// Series for charts: one point per metric with the given name, x taken from a label.
std::vector<std::pair<double, double>> points(const json& c, const std::string& name, const std::string& xkey,
                                              const json& filter = json::object(), const std::string& field = "mean") {
  std::vector<std::pair<double, double>> p;
  for (const json& m : c["metrics"]) {
    if (m["name"] != name || !m["labels"].contains(xkey)) continue;
    bool ok = true;
    for (auto it = filter.begin(); it != filter.end(); ++it)
      if (!m["labels"].contains(it.key()) || m["labels"][it.key()] != it.value()) ok = false;
    if (ok) p.push_back({m["labels"][xkey].get<double>(), m[field].get<double>()});
  }
  return p;
}

bool ok_case(const json* c) { return c && c->value("status", "") == "ok"; }

std::string charts(const json& doc) {
  std::string s;
  auto wrap = [](const std::string& svg, const std::string& caption) {
    return "<figure>" + svg + "<figcaption>" + html_escape(caption) + "</figcaption></figure>\n";
  };
  // Throughput vs batch.
  if (const json* c = find_case(doc, "model.decode_batch"); ok_case(c)) {
    XyChart ch{"Decode throughput vs batch", "sequences in the batch", "tokens/s", true, false, {}};
    ch.series.push_back({"decode tok/s (" + c->value("model", std::string("model")) + ")",
                         points(*c, "decode_tok_s", "batch")});
    s += wrap(svg_xy(ch), "model.decode_batch: Model::forward with one token of each sequence per step.");
  }
  // Latency percentiles.
  if (const json* c = find_case(doc, "model.decode_b1"); ok_case(c)) {
    BarChart ch{"Per-token decode latency percentiles (batch 1)", "ms", {}, {}, false};
    std::vector<double> p50, p90, p99;
    for (const json& m : (*c)["metrics"])
      if (m["name"] == "token_latency") {
        ch.categories.push_back("ctx " + m["labels"]["ctx"].dump());
        p50.push_back(m["p50"]), p90.push_back(m["p90"]), p99.push_back(m["p99"]);
      }
    ch.series = {{"p50", p50}, {"p90", p90}, {"p99", p99}};
    s += wrap(svg_bars(ch), "model.decode_b1: nearest-rank percentiles over the timed steps.");
  }
  // Memory by precision.
  if (const json* c = find_case(doc, "memory.weights_by_precision"); ok_case(c)) {
    BarChart ch{"Weights memory by precision", "MiB", {}, {}, false};
    std::vector<double> v;
    for (const json& m : (*c)["metrics"]) {
      ch.categories.push_back(m["labels"]["dtype"].get<std::string>() == "as_stored" ? "stored"
                                                                                     : m["labels"]["dtype"].get<std::string>());
      v.push_back(m["mean"].get<double>() / double(1 << 20));
    }
    ch.series = {{"weights (" + c->value("model", std::string("model")) + ")", v}};
    s += wrap(svg_bars(ch), "memory.weights_by_precision: n_params x bytes per element; 'stored' is the file as loaded.");
  }
  // Roofline.
  const double bw = doc["hardware"]["measured"].value("read_bw_gbs", 0.0);
  const double peak = doc["hardware"]["measured"].value("fp32_peak_gflops", 0.0);
  const double ipeak = doc["hardware"]["measured"].value("int8_peak_gops", 0.0);
  if (bw > 0 && peak > 0) {
    XyChart ch{"Roofline: matmul per weight type", "arithmetic intensity (FLOP/byte)", "GFLOP/s", true, true, {}};
    auto roof = [&](double pk, const std::string& name) {
      XySeries r{name, {}, true, false, false};
      for (double ai = 0.05; ai <= 2000; ai *= 1.25) r.points.push_back({ai, std::min(pk, ai * bw)});
      return r;
    };
    ch.series.push_back(roof(peak, "FP32 roof"));
    if (ipeak > peak) {
      ch.series.push_back(roof(ipeak, "int8 roof"));
      ch.series.back().dashed = true;
    }
    for (const json& c : doc["cases"]) {
      if (c.value("group", "") != "kernels" || c.value("status", "") != "ok" || !c.contains("extra")) continue;
      XySeries p{c["params"].value("dtype", c["id"].get<std::string>()), {}, false, true, false};
      for (const json& r : c["extra"]["roofline"]) p.points.push_back({r["flop_per_byte"], r["achieved_gflops"]});
      ch.series.push_back(p);
    }
    s += wrap(svg_xy(ch), "Roofs from the measured read bandwidth and peaks; dots are matmul cases at each n.");
  }
  // Matmul per type.
  {
    BarChart ch{"Matmul weight bandwidth per type (n = 1)", "GB/s", {}, {}, false};
    std::vector<double> v;
    for (const json& c : doc["cases"])
      if (c.value("group", "") == "kernels" && c.value("status", "") == "ok") {
        ch.categories.push_back(c["params"].value("dtype", std::string("?")));
        const json* m = find_metric(c, "weight_gbs", {{"n", 1}});
        v.push_back(m ? (*m)["mean"].get<double>() : NAN);
      }
    ch.series = {{"weight GB/s", v}};
    if (bw > 0) ch.series.push_back({"measured read bandwidth", std::vector<double>(v.size(), bw)});
    if (!v.empty()) s += wrap(svg_bars(ch), "matmul.*: weight bytes streamed per second by a one-token matmul.");
  }
  // MLA absorbed vs naive.
  if (const json* c = find_case(doc, "attn.mla_absorb_vs_naive"); ok_case(c)) {
    XyChart ch{"MLA decode: absorbed vs naive", "context (tokens)", "tokens/s", false, false, {}};
    ch.series.push_back({"absorb", points(*c, "decode_tok_s", "ctx", {{"attn", "absorb"}})});
    ch.series.push_back({"naive", points(*c, "decode_tok_s", "ctx", {{"attn", "naive"}})});
    s += wrap(svg_xy(ch), "attn.mla_absorb_vs_naive: whole-model decode at each context.");
  }
  // MoE.
  if (const json* c = find_case(doc, "moe.layer_vs_active_experts"); ok_case(c)) {
    XyChart ch{"MoE expert FFN vs active experts", "experts per token (top_k)", "tokens/s", false, true, {}};
    ch.series.push_back({"1 token", points(*c, "tokens_per_s", "top_k", {{"n_tok", 1}})});
    ch.series.push_back({"16 tokens", points(*c, "tokens_per_s", "top_k", {{"n_tok", 16}})});
    s += wrap(svg_xy(ch), "moe.layer_vs_active_experts: the moe_ffn op.");
  }
  return s;
}

}  // namespace

std::string report_markdown(const json& doc) {
  std::string s = "# dsrt suite report\n\n";
  s += "- mode: `" + doc.value("mode", "") + "`, suite " + doc.value("suite_version", "") + ", schema `" +
       doc.value("schema", "") + "`\n";
  s += "- machine: " + machine_name(doc) + "\n";
  s += "- dsrt " + doc["dsrt"].value("version", "") + " at commit `" + doc["dsrt"].value("git_commit", "") + "` (" +
       doc["dsrt"].value("build_type", "") + ", " + doc["dsrt"].value("compiler", "") + ")\n";
  s += "- time: " + doc["environment"].value("time_utc", "") + ", " +
       std::to_string(doc["environment"].value("threads", 0)) + " threads, total " +
       fmt_num(doc.value("total_seconds", 0.0)) + " s\n\n";
  s += "## Hardware profile\n\n| field | value |\n|---|---|\n";
  const json& h = doc["hardware"];
  s += "| CPU | " + h["cpu"].value("model", "") + " (" + h["cpu"].value("arch", "") + ") |\n";
  s += "| cores | " + std::to_string(h["cpu"].value("physical_cores", 0)) + " physical, " +
       std::to_string(h["cpu"].value("logical_cpus", 0)) + " logical, " +
       std::to_string(h["cpu"].value("sockets", 0)) + " socket(s) |\n";
  std::string isa;
  for (const auto& f : h["cpu"]["isa"]) isa += (isa.empty() ? "" : " ") + f.get<std::string>();
  s += "| ISA | " + isa + " |\n";
  std::string caches;
  for (const auto& c : h["cpu"]["caches"])
    caches += (caches.empty() ? "" : ", ") + std::string("L") + std::to_string(c.value("level", 0)) +
              c.value("type", "").substr(0, 1) + " " + c.value("size", "");
  s += "| caches (per cpu0) | " + caches + " |\n";
  s += "| memory | " + fmt_num(h["memory"].value("total_bytes", 0.0)) + "B, " +
       std::to_string(h["memory"].value("numa_nodes", 0)) + " NUMA node(s) |\n";
  std::string be;
  for (const auto& b : h["accelerators"]["dsrt_backends"]) be += (be.empty() ? "" : ", ") + b.get<std::string>();
  s += "| dsrt backends | " + be + " |\n";
  s += "| accelerators | " + (h["accelerators"]["devices"].empty() ? std::string("none found")
                                                                  : compact(h["accelerators"]["devices"])) + " |\n";
  if (h.contains("measured"))
    s += "| measured | read " + fmt_num(h["measured"].value("read_bw_gbs", 0.0)) + " GB/s, triad " +
         fmt_num(h["measured"].value("triad_bw_gbs", 0.0)) + " GB/s, FP32 " +
         fmt_num(h["measured"].value("fp32_peak_gflops", 0.0)) + " GFLOP/s, int8 " +
         fmt_num(h["measured"].value("int8_peak_gops", 0.0)) + " GOP/s |\n";
  s += "| build | " + doc["dsrt"].value("cxx_flags", "") + " (native " + doc["dsrt"].value("native", "") + ") |\n\n";
  s += "## Headline figures\n\n| figure | value |\n|---|---:|\n";
  for (const Headline& hl : headlines()) s += "| " + hl.label + " | " + cell(headline_value(doc, hl)) + " |\n";
  s += "\n## Cases\n\n| case | model | status | seconds |\n|---|---|---|---:|\n";
  for (const json& c : doc["cases"])
    s += "| `" + c.value("id", "") + "` v" + std::to_string(c.value("version", 0)) + " | " +
         (c["model"].is_string() ? c["model"].get<std::string>() : std::string("-")) + " | " + c.value("status", "") +
         " | " + fmt_num(c.value("seconds", 0.0)) + " |\n";
  for (const json& c : doc["cases"]) {
    s += "\n### `" + c.value("id", "") + "` — " + c.value("title", "") + "\n\n";
    s += "params: `" + compact(c["params"]) + "`, repetitions " + std::to_string(c.value("repetitions", 0)) + "\n\n";
    if (c.value("status", "") != "ok") {
      s += "**" + c.value("status", "") + "**: " + c.value("reason", "") + "\n";
      continue;
    }
    s += "| metric | labels | mean | sd | min | max | unit | n |\n|---|---|---:|---:|---:|---:|---|---:|\n";
    for (const json& m : c["metrics"])
      s += "| " + m.value("name", "") + (m.value("kind", "") == "computed" ? " (computed)" : "") + " | " +
           labels_str(m["labels"]) + " | " + cell(m["mean"]) + " | " + cell(m["sd"]) + " | " + cell(m["min"]) +
           " | " + cell(m["max"]) + " | " + m.value("unit", "") + " | " + std::to_string(m.value("n", 0)) + " |\n";
  }
  return s;
}

std::string html_page(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
         "</title>\n<style>body{font-family:sans-serif;margin:24px;max-width:1280px;color:#222}"
         "table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;"
         "font-size:13px}th{background:#f3f3f3}td.n{text-align:right}figure{display:inline-block;margin:8px}"
         "figcaption{font-size:12px;color:#555;max-width:570px}.bad{color:#a00}.warn{background:#fff3cd}"
         "code{background:#f5f5f5}</style></head>\n<body>\n" +
         body + "\n</body></html>\n";
}

std::string report_html(const json& doc) {
  std::string b = "<h1>dsrt suite report</h1>\n<p>" + html_escape(machine_name(doc)) + " &middot; mode <code>" +
                  html_escape(doc.value("mode", "")) + "</code> &middot; commit <code>" +
                  html_escape(doc["dsrt"].value("git_commit", "")) + "</code> &middot; " +
                  html_escape(doc["environment"].value("time_utc", "")) + "</p>\n";
  b += "<h2>Headline figures</h2>\n<table><tr><th>figure</th><th>value</th></tr>\n";
  for (const Headline& hl : headlines())
    b += "<tr><td>" + html_escape(hl.label) + "</td><td class=\"n\">" + cell(headline_value(doc, hl)) + "</td></tr>\n";
  b += "</table>\n<h2>Charts</h2>\n" + charts(doc);
  b += "<h2>Hardware profile</h2>\n<pre>" + html_escape(doc["hardware"].dump(1)) + "</pre>\n";
  b += "<h2>Cases</h2>\n";
  for (const json& c : doc["cases"]) {
    b += "<h3><code>" + html_escape(c.value("id", "")) + "</code> v" + std::to_string(c.value("version", 0)) + " — " +
         html_escape(c.value("title", "")) + "</h3>\n<p>params <code>" + html_escape(compact(c["params"])) +
         "</code>, repetitions " + std::to_string(c.value("repetitions", 0)) + "</p>\n";
    if (c.value("status", "") != "ok") {
      b += "<p class=\"bad\">" + html_escape(c.value("status", "")) + ": " + html_escape(c.value("reason", "")) +
           "</p>\n";
      continue;
    }
    b += "<table><tr><th>metric</th><th>labels</th><th>mean</th><th>sd</th><th>min</th><th>max</th><th>unit</th>"
         "<th>n</th></tr>\n";
    for (const json& m : c["metrics"])
      b += "<tr><td>" + html_escape(m.value("name", "")) + "</td><td>" + html_escape(labels_str(m["labels"])) +
           "</td><td class=\"n\">" + cell(m["mean"]) + "</td><td class=\"n\">" + cell(m["sd"]) +
           "</td><td class=\"n\">" + cell(m["min"]) + "</td><td class=\"n\">" + cell(m["max"]) + "</td><td>" +
           html_escape(m.value("unit", "")) + "</td><td class=\"n\">" + std::to_string(m.value("n", 0)) +
           "</td></tr>\n";
    b += "</table>\n";
  }
  return html_page("dsrt suite report", b);
}

Status write_reports(const json& doc, const std::string& dir) {
  for (auto [name, text] : {std::pair<std::string, std::string>{"report.md", report_markdown(doc)},
                            {"report.html", report_html(doc)}}) {
    std::ofstream f(dir + "/" + name);
    f << text;
    if (!f) return Status::Error(dir + "/" + name + ": cannot write");
  }
  return Status::Ok();
}

}  // namespace dsrt::suite
