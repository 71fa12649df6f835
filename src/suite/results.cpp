#include "suite/results.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "suite/stats.h"

namespace dsrt::suite {

const char* mode_name(Mode m) { return m == Mode::Quick ? "quick" : "standard"; }

Metric& CaseResult::add(std::string name, std::string unit, std::vector<double> samples, json labels,
                        std::string better) {
  Metric m;
  m.name = std::move(name);
  m.unit = std::move(unit);
  m.samples = std::move(samples);
  m.labels = labels.is_null() ? json::object() : std::move(labels);
  m.better = std::move(better);
  metrics.push_back(std::move(m));
  return metrics.back();
}

CaseResult CaseResult::unavailable(std::string why, json params) {
  CaseResult r;
  r.status = "unavailable";
  r.reason = std::move(why);
  r.params = std::move(params);
  return r;
}

CaseResult CaseResult::error(std::string why, json params) {
  CaseResult r;
  r.status = "error";
  r.reason = std::move(why);
  r.params = std::move(params);
  return r;
}

bool CaseContext::has_command(const std::string& c) const {
  for (const auto& x : commands)
    if (x == c) return true;
  return false;
}

void CaseContext::progress(const std::string& msg) const {
  std::fprintf(stderr, "dsrt suite: [%d/%d] %s: %s\n", case_index, n_cases, case_id.c_str(), msg.c_str());
  std::fflush(stderr);
}

json metric_json(const Metric& m) {
  const Summary s = summarize(m.samples);
  return {{"name", m.name}, {"unit", m.unit}, {"labels", m.labels}, {"n", s.n},
          {"mean", s.mean}, {"sd", s.sd},     {"min", s.min},       {"max", s.max},
          {"p50", s.p50},   {"p90", s.p90},   {"p99", s.p99},       {"samples", m.samples},
          {"better", m.better}, {"kind", m.kind}};
}

json case_json(const CaseDef& d, const CaseResult& r, const std::string& model_id, double seconds) {
  json c = {{"id", d.id},
            {"version", d.version},
            {"group", d.group},
            {"title", d.title},
            {"model", model_id.empty() ? json(nullptr) : json(model_id)},
            {"status", r.status},
            {"params", r.params},
            {"repetitions", r.repetitions},
            {"seconds", seconds}};
  if (!r.reason.empty()) c["reason"] = r.reason;
  json ms = json::array();
  for (const Metric& m : r.metrics) ms.push_back(metric_json(m));
  c["metrics"] = ms;
  if (!r.extra.empty()) c["extra"] = r.extra;
  return c;
}

Status validate_results(const json& j, const std::string& src) {
  if (!j.is_object()) return Status::Error(src + ": not a JSON object");
  if (j.value("schema", "") != kSchema)
    return Status::Error(src + ": field 'schema' is not \"" + std::string(kSchema) + "\" (not a dsrt suite result)");
  for (const char* k : {"suite_version", "mode", "dsrt", "environment", "hardware", "models", "cases"})
    if (!j.contains(k)) return Status::Error(src + ": missing field '" + k + "'");
  if (!j["cases"].is_array()) return Status::Error(src + ": 'cases' is not an array");
  for (size_t i = 0; i < j["cases"].size(); ++i) {
    const json& c = j["cases"][i];
    const std::string at = src + ": cases[" + std::to_string(i) + "]";
    if (!c.is_object() || !c.contains("id") || !c["id"].is_string())
      return Status::Error(at + ": missing string 'id'");
    const std::string id = c["id"];
    for (const char* k : {"version", "status", "params", "metrics"})
      if (!c.contains(k)) return Status::Error(at + " (" + id + "): missing field '" + k + "'");
    if (!c["metrics"].is_array()) return Status::Error(at + " (" + id + "): 'metrics' is not an array");
    const std::string st = c["status"].is_string() ? c["status"].get<std::string>() : "";
    if (st == "ok") {
      if (c["metrics"].empty()) return Status::Error(at + " (" + id + "): status ok but no metrics");
      for (const json& m : c["metrics"])
        for (const char* k : {"name", "unit", "mean", "sd", "min", "n"})
          if (!m.contains(k)) return Status::Error(at + " (" + id + "): a metric lacks '" + k + "'");
    } else if (st == "unavailable" || st == "error") {
      if (!c.contains("reason") || !c["reason"].is_string() || c["reason"].get<std::string>().empty())
        return Status::Error(at + " (" + id + "): status " + st + " without a reason");
    } else {
      return Status::Error(at + " (" + id + "): unknown status '" + st + "'");
    }
  }
  return Status::Ok();
}

Result<json> read_results(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Status::Error(path + ": cannot open");
  std::stringstream ss;
  ss << f.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) return Status::Error(path + ": malformed JSON");
  DSRT_RETURN_IF_ERROR(validate_results(j, path));
  return j;
}

}  // namespace dsrt::suite
