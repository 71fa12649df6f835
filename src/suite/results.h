// The suite's record types and their JSON form (schema "dsrt-suite/1", see docs/suite.md).
// A case produces metrics (each a sample of repetitions summarized as mean/sd/min/max and
// percentiles, with a unit and labels), or an explicit reason why it could not run here.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace dsrt {
class Model;
}

namespace dsrt::suite {

using nlohmann::json;

inline constexpr const char* kSchema = "dsrt-suite/1";
inline constexpr const char* kSuiteVersion = "1.0";

enum class Mode { Quick, Standard };
const char* mode_name(Mode m);

struct Metric {
  std::string name;  // "decode_tok_s"
  std::string unit;  // "tok/s", "GB/s", "bytes", ...
  json labels = json::object();  // what distinguishes rows of one metric: {"ctx": 1024}
  std::vector<double> samples;   // one per repetition
  std::string better = "higher";  // higher | lower | none
  // measured: timed or counted on this machine; computed: derived from shapes/configs.
  std::string kind = "measured";
};

struct CaseResult {
  std::string status = "ok";  // ok | unavailable | error
  std::string reason;         // required unless ok
  json params = json::object();
  int repetitions = 0;
  std::vector<Metric> metrics;
  json extra = json::object();  // case-specific context (roofline inputs, kernel used, ...)

  Metric& add(std::string name, std::string unit, std::vector<double> samples, json labels = json::object(),
              std::string better = "higher");
  static CaseResult unavailable(std::string why, json params = json::object());
  static CaseResult error(std::string why, json params = json::object());
};

// The machine's limits as measured by the earlier cases; later cases place themselves
// against them (0 = not measured yet).
struct MachineLimits {
  double read_bw_gbs = 0, triad_bw_gbs = 0, fp32_gflops = 0, int8_gops = 0;
};

// A model under test, loaded once on the optimized CPU backend.
struct ModelUnderTest {
  std::string id;    // "demo" or the folder / file name
  std::string path;
  bool is_demo = false;
  std::unique_ptr<Model> model;
  double load_s = 0;
  json summary;  // arch, params, bytes
};

struct CaseContext {
  Mode mode = Mode::Quick;
  int threads = 1;
  MachineLimits limits;
  ModelUnderTest* model = nullptr;  // set for per-model cases
  std::string self_exe;             // the dsrt binary (for cases that run a fresh process)
  std::vector<std::string> commands;  // subcommands this dsrt binary has
  std::string case_id;
  int case_index = 0, n_cases = 0;

  bool quick() const { return mode == Mode::Quick; }
  bool has_command(const std::string& c) const;
  // "dsrt suite: [3/34] matmul.q4_k: msg" on stderr.
  void progress(const std::string& msg) const;
};

struct CaseDef {
  std::string id;  // "matmul.q4_k"
  int version = 1;  // bumped when the case measures something different
  std::string group;  // machine | kernels | attention | moe | model | memory | tokenizer | energy | serve | accuracy
  std::string title;
  bool per_model = false;
  std::function<CaseResult(CaseContext&)> run;
};

// The standard case list, in run order (machine limits first).
std::vector<CaseDef> standard_cases();
void add_machine_cases(std::vector<CaseDef>& out);
void add_kernel_cases(std::vector<CaseDef>& out);
void add_model_cases(std::vector<CaseDef>& out);
void add_other_cases(std::vector<CaseDef>& out);

json metric_json(const Metric& m);
json case_json(const CaseDef& d, const CaseResult& r, const std::string& model_id, double seconds);

// Structural check of a results.json document (what `bench compare` and the tests rely on):
// schema tag, required sections, every case ok with at least one metric or with a reason.
Status validate_results(const json& j, const std::string& source);
// Reads and validates a results.json; errors name the file.
Result<json> read_results(const std::string& path);

}  // namespace dsrt::suite
