#include "suite/advise.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "suite/report.h"
#include "suite/results.h"
#include "suite/specs.h"

namespace dsrt::suite {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Precision {
  std::string name;
  double bytes_per_param;
  std::string compute;  // bf16 | fp8 | int8: which peak its matmuls run at
  std::string quality;
};

// Bytes per parameter include block scales (GGUF block sizes; FP8 with one F32 scale per
// 128x128 block). Ordered from the highest fidelity down.
const std::vector<Precision>& precisions() {
  static const std::vector<Precision> p = {
      {"BF16", 2.0, "bf16", "reference"},
      {"FP8", 1.0 + 4.0 / (128 * 128), "fp8", "DeepSeek-V3/R1's native training precision; near-lossless for others"},
      {"Q8_0", 34.0 / 32, "int8", "near-lossless"},
      {"Q6_K", 210.0 / 256, "int8", "small loss"},
      {"Q4_K", 144.0 / 256, "int8", "moderate loss; the usual local-deployment choice"},
      {"Q2_K", 84.0 / 256, "int8", "large loss; last resort to fit"},
  };
  return p;
}

std::string gb(double bytes) {
  char b[32];
  std::snprintf(b, sizeof b, bytes >= 100e9 ? "%.0f GB" : "%.1f GB", bytes / 1e9);
  return b;
}
std::string num(double v, int prec = 1) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}
std::string human_params(double p) {
  char b[32];
  std::snprintf(b, sizeof b, p >= 1e9 ? "%.1fB" : "%.0fM", p >= 1e9 ? p / 1e9 : p / 1e6);
  return b;
}

struct Calibration {
  bool have = false;
  double bw_fraction = 1, flop_fraction = 1;
  std::string note;
  HardwareSpec machine;
};

// dsrt's achieved fraction of the roofline on the profiled machine: decode tokens/s x active
// bytes per token over the measured read bandwidth; prefill tokens/s x FLOPs per token over
// the measured FP32 peak.
Result<Calibration> calibrate(const std::string& path) {
  DSRT_ASSIGN_OR_RETURN(json doc, read_results(path));
  Calibration c;
  const json& ms = doc["hardware"].value("measured", json::object());
  const double bw = ms.value("read_bw_gbs", 0.0), peak = ms.value("fp32_peak_gflops", 0.0);
  if (bw <= 0) return Status::Error(path + ": the profile has no measured read bandwidth (mem.read_bw did not run)");
  c.have = true;
  c.machine.id = "measured";
  c.machine.name = "this machine: " + machine_name(doc);
  c.machine.kind = "cpu";
  c.machine.mem_gb = doc["hardware"]["memory"].value("total_bytes", 0.0) / 1e9;
  c.machine.bw_gbs = bw;
  c.machine.bf16_tflops = peak / 1e3;
  c.machine.int8_tops = ms.value("int8_peak_gops", 0.0) / 1e3;
  c.machine.max_devices = 1;
  c.machine.status = "measured";
  c.machine.source = path + " (dsrt bench suite, commit " + doc["dsrt"].value("git_commit", "?") + ")";
  c.machine.dsrt_backend = "cpu";
  c.machine.tdp_w = 0;
  const double tg = metric_value(doc, "model.decode_b1", "decode_tok_s", {{"ctx", 0}});
  const double pp = metric_value(doc, "model.prefill", "prefill_tok_s", {{"n_prompt", 512}});
  double active_bytes = 0, flops = 0;
  if (!doc["models"].empty()) {
    active_bytes = doc["models"][0].value("active_bytes_per_token", 0.0);
    flops = doc["models"][0].value("flops_per_token", 0.0);
  }
  std::string n;
  if (std::isfinite(tg) && active_bytes > 0) {
    c.bw_fraction = std::clamp(tg * active_bytes / (bw * 1e9), 0.01, 1.0);
    n += "decode reached " + num(100 * c.bw_fraction, 0) + "% of the measured read bandwidth";
  } else {
    n += "no decode case in the profile (bandwidth fraction 1 assumed)";
  }
  if (std::isfinite(pp) && flops > 0 && peak > 0) {
    c.flop_fraction = std::clamp(pp * flops / (peak * 1e9), 0.01, 1.0);
    n += ", prefill " + num(100 * c.flop_fraction, 0) + "% of the measured FP32 peak";
  } else {
    n += ", no prefill case in the profile (FLOP fraction 1 assumed)";
  }
  c.note = n;
  return c;
}

struct Option {
  const HardwareSpec* hw;
  const Precision* p;
  int n_dev = 0;
  bool single_node = true;
  double weights = 0, kv = 0, overhead = 0, total = 0;  // bytes
  double decode_tok_s = 0, aggregate_tok_s = 0, prefill_tok_s = 0, ttft_s = 0;
  double train_tokens_s = 0;
  std::string bound;
  bool calibrated = false;
  bool fits_budget = true;
};

double peak_flops(const HardwareSpec& h, const Precision& p) {
  double t = h.bf16_tflops;
  if (p.compute == "fp8" && h.fp8_tflops > 0) t = h.fp8_tflops;
  if (p.compute == "int8" && h.int8_tops > 0) t = h.int8_tops;
  return t * 1e12;
}

int devices_for(double bytes, const HardwareSpec& h) {
  if (h.mem_gb <= 0) return 1 << 20;
  int n = int(std::ceil(bytes / (h.mem_gb * 1e9)));
  n = std::max(n, 1);
  if (h.kind != "cpu") {  // tensor / expert parallel groups come in powers of two
    int p = 1;
    while (p < n) p *= 2;
    n = p;
  }
  return n;
}

}  // namespace

Result<Advice> advise(const AdviseOptions& o) {
  if (o.scenario != "infer" && o.scenario != "serve" && o.scenario != "train")
    return Status::Error("--scenario must be infer, serve or train (got '" + o.scenario + "')");
  if (o.context < 1) return Status::Error("--context must be >= 1");
  if (o.concurrency < 0) return Status::Error("--concurrency must be >= 1");
  if (o.budget_mem_gb < 0) return Status::Error("--budget-mem must be > 0 GB");
  const int C = o.concurrency > 0 ? o.concurrency : o.scenario == "serve" ? 16 : o.scenario == "train" ? 8 : 1;
  const double ctx = o.context;

  // The model: a known name, or a checkpoint folder / config.json.
  ModelConfig cfg;
  std::string model_name, native = "BF16", source;
  const KnownModel* km = find_known_model(o.model);
  if (km) {
    cfg = km->config;
    model_name = km->name;
    native = km->native_dtype;
    source = km->source + " (built-in table)";
  } else if (fs::exists(o.model)) {
    const std::string p = fs::is_directory(o.model) ? o.model + "/config.json" : o.model;
    auto c = load_model_config(p);
    if (!c.ok()) return c.status();
    cfg = c.value();
    model_name = fs::path(o.model).filename().string();
    if (model_name == "config.json") model_name = fs::path(o.model).parent_path().filename().string();
    if (cfg.fp8_block > 0) native = "FP8";
    source = p;
  } else {
    std::string names;
    for (const auto& m : known_models()) names += (names.empty() ? "" : ", ") + m.name;
    return Status::Error("unknown model '" + o.model + "': not a known name (" + names +
                         ") and no such checkpoint folder or config.json");
  }
  const ModelCounts mc = model_counts(cfg);
  Calibration cal;
  if (!o.profile.empty()) {
    DSRT_ASSIGN_OR_RETURN(cal, calibrate(o.profile));
  }

  std::vector<HardwareSpec> hws;
  if (cal.have) hws.push_back(cal.machine);
  for (const auto& h : hardware_specs()) hws.push_back(h);

  // Memory model.
  const double kv_elem = 2;  // BF16 cache, what serving engines keep (dsrt's CPU cache is F32 today)
  std::vector<Option> opts;
  for (const HardwareSpec& h : hws) {
    for (const Precision& p : precisions()) {
      if (o.scenario == "train" && p.name != "BF16") continue;  // mixed-precision training only
      Option op;
      op.hw = &h;
      op.p = &p;
      const double kv_e = h.status == "measured" ? 4 : kv_elem;
      if (o.scenario == "train") {
        // Mixed-precision Adam: BF16 weights + BF16 grads + FP32 master weights + FP32 Adam m
        // and v = 16 bytes per parameter (Rajbhandari et al., ZeRO, 2020). Activations with full
        // recomputation: the BF16 input of every layer (2 x hidden bytes per token per layer)
        // plus one layer's working set, 34 x hidden bytes per token and 5 x heads x seq bytes
        // per token for attention scores (Korthikanti et al., 2022).
        op.weights = 16.0 * mc.total_params;
        const double toks = ctx * C;
        op.kv = toks * (2.0 * cfg.hidden_size * cfg.num_hidden_layers + 34.0 * cfg.hidden_size +
                        5.0 * cfg.num_attention_heads * ctx);
      } else {
        op.weights = p.bytes_per_param * mc.total_params;
        op.kv = mc.kv_values_per_token * kv_e * ctx * C;
      }
      op.overhead = 0.05 * op.weights + 1e9;  // activations, buffers, fragmentation (assumed)
      op.total = op.weights + op.kv + op.overhead;
      op.n_dev = devices_for(op.total, h);
      op.single_node = op.n_dev <= h.max_devices;
      op.fits_budget = o.budget_mem_gb <= 0 || op.total <= o.budget_mem_gb * 1e9;
      const bool cpu_like = h.kind == "cpu";
      const double bw_eff = cal.have && cpu_like ? cal.bw_fraction : 1.0;
      const double fl_eff = cal.have && cpu_like ? cal.flop_fraction : 1.0;
      op.calibrated = cal.have && cpu_like;
      const double n = op.n_dev, bw = n * h.bw_gbs * 1e9 * bw_eff, peak = n * peak_flops(h, p) * fl_eff;
      if (o.scenario == "train") {
        // 6 FLOPs per active parameter per token (forward 2 + backward 4) + 2 for recompute.
        op.train_tokens_s = peak / (8.0 * mc.active_params + 3.0 * mc.attn_flops_per_token_per_ctx * ctx);
        op.bound = "compute";
      } else {
        // One decode step of C sequences reads the dense weights once, every routed expert some
        // token chose (expected distinct experts E(1-(1-k/E)^C) per layer), and each sequence's KV.
        double routed_active = 0, routed_read = 0;
        if (cfg.is_deepseek() && cfg.n_routed_experts > 0) {
          const double E = cfg.n_routed_experts, k = cfg.num_experts_per_tok;
          routed_active = k * mc.moe_expert_params * mc.n_moe_layers;
          routed_read = E * (1 - std::pow(1 - k / E, C)) * mc.moe_expert_params * mc.n_moe_layers;
        }
        const double wbytes = (mc.active_params - routed_active + routed_read) * p.bytes_per_param;
        const double kbytes = C * ctx * mc.kv_values_per_token * kv_e;
        const double flops = C * (2.0 * mc.active_params + mc.attn_flops_per_token_per_ctx * ctx);
        const double t_mem = (wbytes + kbytes) / bw, t_cmp = flops / peak;
        const double t = std::max(t_mem, t_cmp);
        op.bound = t_mem >= t_cmp ? "memory bandwidth" : "compute";
        op.decode_tok_s = 1.0 / t;
        op.aggregate_tok_s = C / t;
        op.prefill_tok_s = peak / (2.0 * mc.active_params + mc.attn_flops_per_token_per_ctx * ctx / 2);
        op.ttft_s = ctx / op.prefill_tok_s;
      }
      opts.push_back(op);
    }
  }

  // The smallest configuration at all, to explain an impossible budget.
  double smallest = 1e300;
  for (const Option& op : opts) smallest = std::min(smallest, op.total);
  if (o.budget_mem_gb > 0 && smallest > o.budget_mem_gb * 1e9)
    return Status::Error("impossible budget: " + model_name + " needs at least " + gb(smallest) + " for " +
                         o.scenario + " at context " + std::to_string(o.context) + " x " + std::to_string(C) +
                         " (" + (o.scenario == "train" ? std::string("BF16 mixed-precision Adam")
                                                       : std::string("Q2_K weights + KV cache")) +
                         "), more than --budget-mem " + num(o.budget_mem_gb, 1) + " GB");

  // Per hardware: the highest-fidelity precision that fits one node (and the budget), on the
  // fewest devices that precision needs. Hardware ranked by estimated throughput.
  struct Pick {
    const Option* best = nullptr;
    std::vector<const Option*> others;
  };
  std::vector<Pick> picks;
  for (const HardwareSpec& h : hws) {
    Pick pk;
    for (const Option& op : opts)
      if (op.hw == &h && op.single_node && op.fits_budget) {
        if (!pk.best) pk.best = &op;
        else pk.others.push_back(&op);
      }
    picks.push_back(pk);
  }
  auto speed = [&](const Option* op) {
    return o.scenario == "train" ? op->train_tokens_s : o.scenario == "serve" ? op->aggregate_tok_s : op->decode_tok_s;
  };
  std::vector<const Pick*> ranked;
  for (const Pick& p : picks)
    if (p.best) ranked.push_back(&p);
  std::stable_sort(ranked.begin(), ranked.end(), [&](const Pick* a, const Pick* b) { return speed(a->best) > speed(b->best); });

  // The text.
  std::string t;
  const bool moe = cfg.n_routed_experts > 0;
  t += model_name + ": " + human_params(mc.total_params) + " parameters" +
       (moe ? ", " + human_params(mc.active_params) + " active per token (" + std::to_string(cfg.num_experts_per_tok) +
                  " of " + std::to_string(cfg.n_routed_experts) + " routed experts)"
            : std::string(" (dense)")) +
       ", " + (cfg.is_deepseek() ? "MLA" : "GQA") + " attention, native " + native + ". Shapes: " + source + ".\n";
  t += "Scenario: " + o.scenario + ", context " + std::to_string(o.context) + ", " +
       (o.scenario == "train" ? std::to_string(C) + " sequences per step" : std::to_string(C) + " concurrent sequence(s)") +
       (o.budget_mem_gb > 0 ? ", memory budget " + num(o.budget_mem_gb, 0) + " GB" : std::string()) + ".\n\n";
  if (o.scenario == "train") {
    t += "Training is not implemented in dsrt yet; this is the standard memory model for mixed-precision Adam: "
         "16 bytes per parameter (BF16 weights and gradients, FP32 master weights and two Adam moments) = " +
         gb(16.0 * mc.total_params) + ", plus activations with full recomputation. Speed assumes 8 FLOPs per "
         "active parameter per token (forward, backward, recompute) at the device's dense BF16 peak, an upper "
         "bound; real runs reach 30-50% of it.\n\n";
  } else {
    t += "KV cache: " + num(mc.kv_values_per_token * kv_elem / 1024, 1) + " KiB per token at BF16" +
         (cfg.is_deepseek() ? " (MLA keeps the " + std::to_string(cfg.kv_lora_rank) + "-value latent and the " +
                                  std::to_string(cfg.qk_rope_head_dim) + "-value rope key per layer; plain multi-head "
                                  "attention would need " +
                                  num(mc.mha_kv_values_per_token / mc.kv_values_per_token, 0) + "x more)"
                            : std::string()) +
         ", " + gb(mc.kv_values_per_token * kv_elem * ctx * C) + " for this context and concurrency.\n";
    t += "How the estimates are made: decoding is bound by memory bandwidth: every step reads the active weights "
         "once (for MoE, every expert some sequence in the batch picked) and each sequence's KV cache, so "
         "tokens/s ~ bandwidth / bytes per step; prefill is bound by FLOP/s: ~2 FLOPs per active parameter per "
         "token plus attention. Memory = weights + KV x context x concurrency + 5% + 1 GB overhead. Several "
         "devices are assumed to split weights and bandwidth evenly (ideal tensor/expert parallelism). Figures "
         "are roofline upper bounds" +
         std::string(cal.have ? "; CPU entries are scaled by dsrt's measured efficiency (" + cal.note + ")"
                              : "; engines typically reach 50-80% of them (pass --profile results.json to "
                                "calibrate with a measured machine)") +
         ".\n\n";
  }
  if (ranked.empty()) {
    t += "Nothing in the table fits on one node";
    t += o.budget_mem_gb > 0 ? " within the memory budget" : "";
    t += ". Smallest multi-node configurations:\n";
  } else {
    const Option* b = ranked.front()->best;
    t += "Recommendation: " + std::to_string(b->n_dev) + " x " + b->hw->name + " at " + b->p->name + " (" +
         b->p->quality + "): needs " + gb(b->total) + " (" + gb(b->weights) +
         (o.scenario == "train" ? " weights+grads+optimizer, " : " weights, ") + gb(b->kv) +
         (o.scenario == "train" ? " activations" : " KV") + ") of " + gb(b->n_dev * b->hw->mem_gb * 1e9) + "; ";
    if (o.scenario == "train")
      t += "about " + num(b->train_tokens_s, 0) + " training tokens/s at best.";
    else
      t += "decode about " + num(b->decode_tok_s, 1) + " tokens/s per sequence" +
           (C > 1 ? " (" + num(b->aggregate_tok_s, 0) + " tokens/s in aggregate)" : std::string()) + ", " + b->bound +
           "-bound; prefill about " + num(b->prefill_tok_s, 0) + " tokens/s (first token after about " +
           num(b->ttft_s, 2) + " s for a " + std::to_string(o.context) + "-token prompt).";
    t += " It is the fastest option that keeps the highest precision fitting on one node. [" + b->hw->status + "; " +
         b->hw->source + "; dsrt backend: " + b->hw->dsrt_backend + "]\n\n";
    t += "All hardware (best precision that fits one node" + std::string(o.budget_mem_gb > 0 ? " and the budget" : "") +
         "):\n\n| hardware | status | devices | precision | memory | " +
         (o.scenario == "train" ? std::string("train tok/s") : std::string("decode tok/s/seq | aggregate | prefill tok/s")) +
         " | bound |\n|---|---|---:|---|---:|---:|" + (o.scenario == "train" ? "" : "---:|---:|") + "---|\n";
    for (const Pick* pk : ranked) {
      const Option* op = pk->best;
      t += "| " + op->hw->name + " | " + op->hw->status + (op->calibrated ? ", calibrated" : "") + " | " +
           std::to_string(op->n_dev) + " | " + op->p->name + " | " + gb(op->total) + " | ";
      if (o.scenario == "train") t += num(op->train_tokens_s, 0) + " | ";
      else
        t += num(op->decode_tok_s, 1) + " | " + num(op->aggregate_tok_s, 0) + " | " + num(op->prefill_tok_s, 0) + " | ";
      t += op->bound + " |\n";
    }
  }
  std::vector<std::string> nofit;
  for (size_t i = 0; i < hws.size(); ++i) {
    if (picks[i].best) continue;
    double need = 1e300;
    int nd = 0;
    for (const Option& op : opts)
      if (op.hw == &hws[i] && op.total < need) need = op.total, nd = op.n_dev;
    nofit.push_back(hws[i].name + ": smallest option needs " + gb(need) + " = " + std::to_string(nd) + " device(s)" +
                    (o.budget_mem_gb > 0 && need > o.budget_mem_gb * 1e9 ? " (over the budget)" : " (more than one node)"));
  }
  if (!nofit.empty()) {
    t += "\nDoes not fit on one node:\n";
    for (const auto& s : nofit) t += "- " + s + "\n";
  }

  Advice a;
  a.text = t;
  json& j = a.j;
  j["model"] = {{"name", model_name}, {"total_params", mc.total_params}, {"active_params", mc.active_params},
                {"kv_values_per_token", mc.kv_values_per_token}, {"native_dtype", native}, {"source", source}};
  j["scenario"] = o.scenario;
  j["context"] = o.context;
  j["concurrency"] = C;
  if (o.budget_mem_gb > 0) j["budget_mem_gb"] = o.budget_mem_gb;
  j["calibration"] = cal.have ? json{{"bw_fraction", cal.bw_fraction}, {"flop_fraction", cal.flop_fraction},
                                     {"note", cal.note}}
                              : json(nullptr);
  json rows = json::array();
  for (const Option& op : opts) {
    json r = {{"hardware", op.hw->id}, {"name", op.hw->name}, {"status", op.hw->status}, {"precision", op.p->name},
              {"devices", op.n_dev}, {"single_node", op.single_node}, {"fits_budget", op.fits_budget},
              {"memory_bytes", op.total}, {"weights_bytes", op.weights}, {"kv_bytes", op.kv}, {"bound", op.bound},
              {"calibrated", op.calibrated}, {"source", op.hw->source}};
    if (o.scenario == "train") r["train_tokens_s"] = op.train_tokens_s;
    else
      r["decode_tok_s"] = op.decode_tok_s, r["aggregate_tok_s"] = op.aggregate_tok_s,
      r["prefill_tok_s"] = op.prefill_tok_s, r["ttft_s"] = op.ttft_s;
    rows.push_back(r);
  }
  j["options"] = rows;
  if (!ranked.empty())
    j["recommendation"] = {{"hardware", ranked.front()->best->hw->id}, {"name", ranked.front()->best->hw->name},
                           {"precision", ranked.front()->best->p->name}, {"devices", ranked.front()->best->n_dev}};
  else
    j["recommendation"] = nullptr;
  if (o.scenario == "train") j["note"] = "training is not implemented in dsrt yet";
  return a;
}

}  // namespace dsrt::suite
