// Built-in tables for `dsrt advise`: accelerator and server-CPU specifications (each with its
// public source, marked "spec"; figures derived from a spec sheet are marked "spec-derived"),
// and the published shapes of the DeepSeek models, from which parameter counts, active
// parameters, FLOPs and KV-cache bytes per token are computed.
#pragma once

#include <string>
#include <vector>

#include "loaders/model_config.h"

namespace dsrt::suite {

struct HardwareSpec {
  std::string id;      // "h200"
  std::string name;    // "NVIDIA H200 SXM 141GB"
  std::string kind;    // gpu | npu | cpu
  double mem_gb = 0;   // per device / socket (GB = 1e9 bytes)
  double bw_gbs = 0;   // memory bandwidth per device / socket
  double bf16_tflops = 0;  // dense BF16/FP16 (CPU: FP32 SIMD peak, used for BF16 too)
  double fp8_tflops = 0;   // dense FP8; 0 = no FP8 matmul units
  double int8_tops = 0;    // dense INT8; 0 = not published
  double tdp_w = 0;
  int max_devices = 8;     // per node (CPU: sockets)
  std::string status = "spec";  // spec | spec-derived | measured
  std::string source;
  std::string dsrt_backend;  // what runs it in dsrt today
};
const std::vector<HardwareSpec>& hardware_specs();

struct KnownModel {
  std::string name;                  // "DeepSeek-V3"
  std::vector<std::string> aliases;  // lower-case names accepted on the command line
  ModelConfig config;
  std::string native_dtype;  // BF16 | FP8
  int max_context = 0;
  std::string source;
};
const std::vector<KnownModel>& known_models();
// Case-insensitive lookup by name or alias; nullptr when unknown.
const KnownModel* find_known_model(const std::string& name);

// Parameter counts computed from the shapes (embedding and output head counted once each).
struct ModelCounts {
  double total_params = 0, active_params = 0;  // active: per token (top-k routed experts)
  double embed_params = 0;                     // input embedding table (one row read per token)
  double kv_values_per_token = 0;              // all layers (MLA: (kv_lora + rope) x layers)
  double mha_kv_values_per_token = 0;          // the plain multi-head layout of the same model
  double attn_flops_per_token_per_ctx = 0;     // attention FLOPs per token per cached position
  double moe_expert_params = 0;                // one routed expert of one layer
  int n_moe_layers = 0;
};
ModelCounts model_counts(const ModelConfig& c);

}  // namespace dsrt::suite
