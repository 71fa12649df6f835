#include "suite/compare.h"

#include <cmath>
#include <map>
#include <set>

#include "suite/report.h"
#include "suite/svg.h"

namespace dsrt::suite {
namespace {

std::string cell(double v) { return std::isfinite(v) ? fmt_num(v) : "n/a"; }
std::string ratio(double v, double base) {
  if (!std::isfinite(v) || !std::isfinite(base) || base == 0) return "";
  char b[32];
  std::snprintf(b, sizeof b, " (x%.2f)", v / base);
  return b;
}

std::string short_commit(const json& d) {
  const std::string c = d["dsrt"].value("git_commit", "unknown");
  return c.substr(0, std::min<size_t>(c.size(), 10)) + (c.find("-dirty") != std::string::npos ? "+" : "");
}

// Keys whose values differ between two params objects ("n_prompt: [128,512] vs [128,512,2048]").
std::vector<std::string> param_diffs(const json& a, const json& b) {
  std::vector<std::string> out;
  std::set<std::string> keys;
  for (auto it = a.begin(); it != a.end(); ++it) keys.insert(it.key());
  for (auto it = b.begin(); it != b.end(); ++it) keys.insert(it.key());
  for (const auto& k : keys) {
    const json va = a.contains(k) ? a[k] : json("(absent)"), vb = b.contains(k) ? b[k] : json("(absent)");
    if (va != vb) out.push_back(k + ": " + va.dump() + " vs " + vb.dump());
  }
  return out;
}

struct Row {
  std::string case_id, metric, labels, unit, better;
  json label_json;
};

}  // namespace

Result<CompareOutput> compare_results(const std::vector<json>& docs, const std::vector<std::string>& names,
                                      int baseline) {
  if (docs.size() < 2) return Status::Error("compare needs at least two results files");
  if (baseline < 0 || baseline >= int(docs.size()))
    return Status::Error("--baseline " + std::to_string(baseline + 1) + " is outside 1.." + std::to_string(docs.size()));
  CompareOutput out;
  const size_t n = docs.size();
  const json& base = docs[size_t(baseline)];
  auto col = [&](size_t i) { return "#" + std::to_string(i + 1) + (int(i) == baseline ? " (baseline)" : ""); };

  // Warnings: different modes, models, case versions or parameters, and status changes.
  for (size_t i = 0; i < n; ++i) {
    if (int(i) == baseline) continue;
    const std::string who = col(i) + " vs " + col(size_t(baseline));
    if (docs[i].value("mode", "") != base.value("mode", ""))
      out.warnings.push_back(who + ": suite modes differ (" + docs[i].value("mode", "") + " vs " +
                             base.value("mode", "") + "); case parameters differ accordingly");
    std::set<std::string> ma, mb;
    for (const auto& m : docs[i]["models"]) ma.insert(m.value("id", "") + "/" + std::to_string(m.value("n_params", 0)));
    for (const auto& m : base["models"]) mb.insert(m.value("id", "") + "/" + std::to_string(m.value("n_params", 0)));
    if (ma != mb) out.warnings.push_back(who + ": the models under test differ");
    for (const json& c : docs[i]["cases"]) {
      const json* bc = find_case(base, c.value("id", ""), c["model"].is_string() ? c["model"].get<std::string>() : "");
      if (!bc) continue;
      const std::string id = c.value("id", "");
      if (c.value("version", 0) != bc->value("version", 0))
        out.warnings.push_back(who + ": case " + id + " versions differ (v" + std::to_string(c.value("version", 0)) +
                               " vs v" + std::to_string(bc->value("version", 0)) + ")");
      for (const auto& d : param_diffs(c["params"], (*bc)["params"]))
        out.warnings.push_back(who + ": case " + id + " parameters differ: " + d);
      if (c.value("status", "") != bc->value("status", ""))
        out.warnings.push_back(who + ": case " + id + " is " + c.value("status", "") + " vs " +
                               bc->value("status", ""));
    }
  }

  std::string md = "# dsrt suite comparison\n\n## Runs\n\n| run | file | machine | commit | mode | time |\n|---|---|---|---|---|---|\n";
  std::string html = "<h1>dsrt suite comparison</h1>\n<h2>Runs</h2>\n<table><tr><th>run</th><th>file</th><th>machine</th>"
                     "<th>commit</th><th>mode</th><th>time</th></tr>\n";
  for (size_t i = 0; i < n; ++i) {
    const std::string t = docs[i]["environment"].value("time_utc", "");
    md += "| " + col(i) + " | " + names[i] + " | " + machine_name(docs[i]) + " | `" + short_commit(docs[i]) + "` | " +
          docs[i].value("mode", "") + " | " + t + " |\n";
    html += "<tr><td>" + html_escape(col(i)) + "</td><td>" + html_escape(names[i]) + "</td><td>" +
            html_escape(machine_name(docs[i])) + "</td><td><code>" + html_escape(short_commit(docs[i])) +
            "</code></td><td>" + html_escape(docs[i].value("mode", "")) + "</td><td>" + html_escape(t) + "</td></tr>\n";
  }
  html += "</table>\n";

  // Headline figures by group, with ratios to the baseline.
  auto header = [&](const std::string& first) {
    std::string h = "| " + first;
    for (size_t i = 0; i < n; ++i) h += " | " + col(i);
    h += " |\n|---";
    for (size_t i = 0; i < n; ++i) h += "|---:";
    return h + "|\n";
  };
  auto hheader = [&](const std::string& first) {
    std::string h = "<table><tr><th>" + html_escape(first) + "</th>";
    for (size_t i = 0; i < n; ++i) h += "<th>" + html_escape(col(i)) + "</th>";
    return h + "</tr>\n";
  };
  for (const char* group : {"throughput", "latency", "memory", "machine", "efficiency"}) {
    md += std::string("\n## ") + group + "\n\n" + header("figure");
    html += std::string("<h2>") + group + "</h2>\n" + hheader("figure");
    for (const Headline& h : headlines()) {
      if (h.group != group) continue;
      md += "| " + h.label;
      html += "<tr><td>" + html_escape(h.label) + "</td>";
      double bv = metric_value(base, h.case_id, h.metric, h.labels, h.field);
      for (size_t i = 0; i < n; ++i) {
        const double v = metric_value(docs[i], h.case_id, h.metric, h.labels, h.field);
        const std::string r = int(i) == baseline ? "" : ratio(v, bv);
        md += " | " + cell(h.metric == "peak_rss_bytes" ? v / double(1 << 20) : v) + r;
        html += "<td class=\"n\">" + cell(h.metric == "peak_rss_bytes" ? v / double(1 << 20) : v) + r + "</td>";
      }
      md += " |\n";
      html += "</tr>\n";
    }
    if (std::string(group) == "efficiency") {
      // tokens per joule = tokens/s per watt: the efficiency figure where energy was measured.
      md += "| decode tokens/s per W";
      html += "<tr><td>decode tokens/s per W</td>";
      const double bj = metric_value(base, "energy.per_token", "decode_j_per_token");
      for (size_t i = 0; i < n; ++i) {
        const double j = metric_value(docs[i], "energy.per_token", "decode_j_per_token");
        const std::string v = std::isfinite(j) && j > 0 ? fmt_num(1.0 / j) + (int(i) == baseline ? "" : ratio(bj, j))
                                                        : "n/a (no power counter)";
        md += " | " + v;
        html += "<td class=\"n\">" + html_escape(v) + "</td>";
      }
      md += " |\n";
      html += "</tr>\n";
    }
    html += "</table>\n";
  }

  // Every metric of every case, side by side.
  std::vector<Row> rows;
  std::set<std::string> seen;
  for (const json& d : docs)
    for (const json& c : d["cases"])
      for (const json& m : c["metrics"]) {
        Row r{c.value("id", ""), m.value("name", ""), labels_str(m["labels"]), m.value("unit", ""),
              m.value("better", ""), m["labels"]};
        const std::string key = r.case_id + "|" + r.metric + "|" + r.labels;
        if (seen.insert(key).second) rows.push_back(r);
      }
  md += "\n## All metrics (mean; ratio to the baseline)\n\n" + header("case / metric / labels / unit");
  html += "<h2>All metrics (mean; ratio to the baseline)</h2>\n" + hheader("case / metric / labels / unit");
  for (const Row& r : rows) {
    const std::string name = r.case_id + " / " + r.metric + (r.labels.empty() ? "" : " / " + r.labels) + " / " + r.unit;
    md += "| " + name;
    html += "<tr><td>" + html_escape(name) + "</td>";
    const double bv = metric_value(base, r.case_id, r.metric, r.label_json);
    for (size_t i = 0; i < n; ++i) {
      const double v = metric_value(docs[i], r.case_id, r.metric, r.label_json);
      const std::string s = cell(v) + (int(i) == baseline ? "" : ratio(v, bv));
      md += " | " + s;
      html += "<td class=\"n\">" + html_escape(s) + "</td>";
    }
    md += " |\n";
    html += "</tr>\n";
  }
  html += "</table>\n";

  // Charts: throughput ratios, decode vs batch per run, matmul bandwidth per type per run.
  std::string ch;
  {
    BarChart b{"Throughput relative to the baseline", "ratio", {}, {}, false};
    for (const Headline& h : headlines())
      if (h.group == "throughput") b.categories.push_back(h.case_id.substr(h.case_id.find('.') + 1) +
                                                          (h.labels.empty() ? "" : " " + labels_str(h.labels)));
    for (size_t i = 0; i < n; ++i) {
      std::vector<double> v;
      for (const Headline& h : headlines())
        if (h.group == "throughput") {
          const double a = metric_value(docs[i], h.case_id, h.metric, h.labels, h.field);
          const double bb = metric_value(base, h.case_id, h.metric, h.labels, h.field);
          v.push_back(std::isfinite(a) && std::isfinite(bb) && bb != 0 ? a / bb : NAN);
        }
      b.series.push_back({col(i), v});
    }
    ch += "<figure>" + svg_bars(b) + "</figure>\n";
  }
  {
    XyChart x{"Decode throughput vs batch", "batch", "tokens/s", true, false, {}};
    for (size_t i = 0; i < n; ++i) {
      XySeries s{col(i), {}, true, true, false};
      for (int b : {1, 4, 16}) {
        const double v = metric_value(docs[i], "model.decode_batch", "decode_tok_s", {{"batch", b}});
        if (std::isfinite(v)) s.points.push_back({double(b), v});
      }
      x.series.push_back(s);
    }
    ch += "<figure>" + svg_xy(x) + "</figure>\n";
  }
  {
    BarChart b{"Matmul weight GB/s per type (n = 1)", "GB/s", {}, {}, false};
    std::vector<std::string> ids;
    for (const json& c : base["cases"])
      if (c.value("group", "") == "kernels") ids.push_back(c.value("id", "")),
                                             b.categories.push_back(c["params"].value("dtype", std::string("?")));
    for (size_t i = 0; i < n; ++i) {
      std::vector<double> v;
      for (const auto& id : ids) v.push_back(metric_value(docs[i], id, "weight_gbs", {{"n", 1}}));
      b.series.push_back({col(i), v});
    }
    ch += "<figure>" + svg_bars(b) + "</figure>\n";
  }
  std::string warn_md = "\n## Warnings\n\n", warn_html = "<h2>Warnings</h2>\n";
  if (out.warnings.empty()) warn_md += "none: every shared case ran with the same parameters\n", warn_html += "<p>none</p>\n";
  for (const auto& w : out.warnings) warn_md += "- " + w + "\n", warn_html += "<p class=\"warn\">" + html_escape(w) + "</p>\n";
  out.markdown = md + warn_md;
  out.html = html_page("dsrt suite comparison", html.substr(0, html.find("<h2>throughput")) + "<h2>Charts</h2>\n" + ch +
                                                   html.substr(html.find("<h2>throughput")) + warn_html);
  return out;
}

}  // namespace dsrt::suite
