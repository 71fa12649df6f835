#include "suite/suite.h"

#include <filesystem>
#include <fstream>
#include <thread>

#include "models/demo.h"
#include "models/model.h"
#include "suite/hardware.h"
#include "suite/report.h"
#include "suite/specs.h"
#include "suite/stats.h"

namespace dsrt::suite {
namespace {

namespace fs = std::filesystem;

bool selected(const SuiteOptions& o, const std::string& id) {
  if (o.only.empty()) return true;
  for (const auto& p : o.only)
    if (id.rfind(p, 0) == 0) return true;
  return false;
}

Result<ModelUnderTest> open_model(const std::string& path_in, int threads) {
  ModelUnderTest mt;
  mt.path = path_in;
  if (mt.path.empty()) {
    mt.is_demo = true;
    mt.path = default_demo_dir();
    if (!fs::exists(mt.path + "/config.json")) {
      std::fprintf(stderr, "dsrt suite: writing the demo model (random weights) to %s\n", mt.path.c_str());
      DSRT_RETURN_IF_ERROR(write_demo_model(mt.path, default_assets_dir()));
    }
    mt.id = "demo";
  } else {
    if (!fs::exists(mt.path)) return Status::Error("--model " + mt.path + ": no such file or folder");
    fs::path p = fs::path(mt.path);
    mt.id = (p.filename().empty() ? p.parent_path().filename() : p.filename()).string();
  }
  DSRT_ASSIGN_OR_RETURN(auto be, make_backend("cpu", threads));
  const auto t0 = Clock::now();
  auto m = load_model(mt.path, std::shared_ptr<Backend>(std::move(be)));
  if (!m.ok()) return m.status().with_context("loading " + mt.path);
  mt.load_s = seconds_since(t0);
  mt.model = std::move(m).value();
  const ModelConfig& c = mt.model->config();
  const WeightStats& w = mt.model->weight_stats();
  mt.summary = {{"id", mt.id},
                {"path", mt.path},
                {"demo", mt.is_demo},
                {"architecture", arch_name(c.arch)},
                {"n_layer", c.num_hidden_layers},
                {"hidden_size", c.hidden_size},
                {"n_head", c.num_attention_heads},
                {"vocab_size", c.vocab_size},
                {"n_routed_experts", c.n_routed_experts},
                {"experts_per_token", c.num_experts_per_tok},
                {"kv_lora_rank", c.kv_lora_rank},
                {"n_params", w.n_params},
                {"weight_bytes", w.weight_bytes}};
  // What one decoded token reads and computes, for `dsrt advise --profile` calibration.
  const ModelCounts mc = model_counts(c);
  const double bpp = double(w.weight_bytes) / double(std::max<int64_t>(w.n_params, 1));
  mt.summary["active_params_per_token"] = mc.active_params;
  mt.summary["active_bytes_per_token"] = mc.active_params * bpp;
  mt.summary["flops_per_token"] = 2.0 * mc.active_params;
  if (mt.is_demo) mt.summary["note"] = "random-weight DeepSeek-V3-architecture demo (dsrt make-demo)";
  return mt;
}

}  // namespace

std::vector<CaseDef> standard_cases() {
  std::vector<CaseDef> v;
  add_machine_cases(v);
  add_kernel_cases(v);
  add_model_cases(v);
  add_other_cases(v);
  return v;
}

std::vector<std::pair<std::string, std::string>> list_cases() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const CaseDef& d : standard_cases()) out.push_back({d.id, d.title});
  return out;
}

Result<json> run_suite(const SuiteOptions& o) {
  if (o.out_dir.empty()) return Status::Error("--out DIR is required");
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec || !fs::is_directory(o.out_dir)) return Status::Error("--out " + o.out_dir + ": cannot create folder");
  const int threads = o.threads > 0 ? o.threads : std::max(1, int(std::thread::hardware_concurrency()));
  const auto t_start = Clock::now();

  std::vector<CaseDef> cases;
  for (CaseDef& d : standard_cases())
    if (selected(o, d.id)) cases.push_back(std::move(d));
  if (cases.empty()) return Status::Error("--only matches no case (see --list)");

  std::vector<ModelUnderTest> models;
  bool need_model = false;
  for (const CaseDef& d : cases) need_model |= d.per_model;
  if (need_model) {
    std::vector<std::string> paths = o.models.empty() ? std::vector<std::string>{""} : o.models;
    for (const auto& p : paths) {
      DSRT_ASSIGN_OR_RETURN(auto mt, open_model(p, threads));
      models.push_back(std::move(mt));
    }
  }

  json doc;
  doc["schema"] = kSchema;
  doc["suite_version"] = kSuiteVersion;
  doc["mode"] = mode_name(o.mode);
  doc["dsrt"] = build_info();
  doc["environment"] = environment_info();
  doc["environment"]["threads"] = threads;
  doc["hardware"] = hardware_profile();
  json ms = json::array();
  for (const auto& m : models) ms.push_back(m.summary);
  doc["models"] = ms;

  CaseContext ctx;
  ctx.mode = o.mode;
  ctx.threads = threads;
  ctx.self_exe = o.self_exe;
  ctx.commands = o.commands;
  int n_runs = 0;
  for (const CaseDef& d : cases) n_runs += d.per_model ? int(models.size()) : 1;
  ctx.n_cases = n_runs;
  json out_cases = json::array();
  for (const CaseDef& d : cases) {
    const size_t n_inst = d.per_model ? models.size() : 1;
    for (size_t mi = 0; mi < n_inst; ++mi) {
      ctx.case_id = d.id + (d.per_model && models.size() > 1 ? "@" + models[mi].id : "");
      ctx.case_index++;
      ctx.model = d.per_model ? &models[mi] : nullptr;
      ctx.progress("start");
      const auto t0 = Clock::now();
      CaseResult r = d.run(ctx);
      const double s = seconds_since(t0);
      ctx.progress(r.status == "ok" ? "done in " + std::to_string(s) + " s" : r.status + ": " + r.reason);
      out_cases.push_back(case_json(d, r, d.per_model ? models[mi].id : "", s));
    }
  }
  doc["cases"] = out_cases;
  doc["hardware"]["measured"] = {{"read_bw_gbs", ctx.limits.read_bw_gbs},
                                 {"triad_bw_gbs", ctx.limits.triad_bw_gbs},
                                 {"fp32_peak_gflops", ctx.limits.fp32_gflops},
                                 {"int8_peak_gops", ctx.limits.int8_gops},
                                 {"note", "best pass of the machine cases; 0 = case not run"}};
  doc["total_seconds"] = seconds_since(t_start);
  DSRT_RETURN_IF_ERROR(validate_results(doc, "results"));
  const std::string jp = o.out_dir + "/results.json";
  std::ofstream f(jp);
  f << doc.dump(1) << "\n";
  if (!f) return Status::Error(jp + ": cannot write");
  f.close();
  DSRT_RETURN_IF_ERROR(write_reports(doc, o.out_dir));
  return doc;
}

}  // namespace dsrt::suite
