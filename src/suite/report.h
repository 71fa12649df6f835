// Reports over results documents: lookups shared by the single-run report and `bench
// compare`, the headline figures, and the markdown / HTML writers.
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace dsrt::suite {

using nlohmann::json;

// The first case with this id (and model, when given).
const json* find_case(const json& doc, const std::string& id, const std::string& model = "");
// The first metric of a case with this name whose labels include every key of `labels`.
const json* find_metric(const json& c, const std::string& name, const json& labels = json::object());
// mean (or another summary field) of a metric; NAN when absent or the case did not run.
double metric_value(const json& doc, const std::string& id, const std::string& name,
                    const json& labels = json::object(), const std::string& field = "mean");
std::string labels_str(const json& labels);
// "AMD EPYC 9654, 2 cores, 23 GiB"
std::string machine_name(const json& doc);

struct Headline {
  std::string label, case_id, metric;
  json labels;
  std::string field;  // mean | p50 | p99 ...
  std::string group;  // throughput | latency | memory | machine | efficiency
};
const std::vector<Headline>& headlines();

std::string report_markdown(const json& doc);
std::string report_html(const json& doc);

// Shared HTML page frame (inline CSS only).
std::string html_page(const std::string& title, const std::string& body);

}  // namespace dsrt::suite
