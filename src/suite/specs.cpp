#include "suite/specs.h"

#include <algorithm>
#include <cctype>

namespace dsrt::suite {

// Vendor-published figures, dense (no sparsity), per device. CPU FP32 peaks are derived from
// the spec sheet as cores x base clock x FLOPs per cycle, bandwidth as channels x transfer
// rate x 8 bytes; those entries say "spec-derived" and how.
const std::vector<HardwareSpec>& hardware_specs() {
  static const std::vector<HardwareSpec> v = {
      {"h200", "NVIDIA H200 SXM 141GB", "gpu", 141, 4800, 989, 1979, 1979, 700, 8, "spec",
       "NVIDIA H200 Tensor Core GPU product page / datasheet (nvidia.com/en-us/data-center/h200)",
       "cuda (when dsrt is built with -DDSRT_CUDA=ON)"},
      {"h100", "NVIDIA H100 SXM5 80GB", "gpu", 80, 3350, 989, 1979, 1979, 700, 8, "spec",
       "NVIDIA H100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h100)",
       "cuda (when dsrt is built with -DDSRT_CUDA=ON)"},
      {"a100", "NVIDIA A100 SXM4 80GB", "gpu", 80, 2039, 312, 0, 624, 400, 8, "spec",
       "NVIDIA A100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/a100)",
       "cuda (when dsrt is built with -DDSRT_CUDA=ON)"},
      {"ascend910b", "Huawei Ascend 910B", "npu", 64, 1600, 320, 0, 640, 400, 8, "spec",
       "Huawei does not publish a full 910B datasheet; figures as widely reported for the 910B (HBM2e 64 GB, "
       "~1.6 TB/s, ~320 TFLOPS FP16); treat as approximate",
       "none yet (needs a CANN plugin backend)"},
      {"br100", "Biren BR100", "gpu", 64, 1640, 1024, 0, 2048, 550, 8, "spec",
       "Biren BR100 launch and Hot Chips 34 (2022) presentation: 64 GB HBM2e, 1.64 TB/s, 1024 TFLOPS BF16, "
       "2048 TOPS INT8, 550 W",
       "none yet"},
      {"mtt_s4000", "Moore Threads MTT S4000", "gpu", 48, 768, 100, 0, 200, 450, 8, "spec",
       "Moore Threads MTT S4000 announcement (Dec 2023): 48 GB GDDR6, 768 GB/s, 100 TFLOPS FP16/BF16, "
       "200 TOPS INT8",
       "none yet (MUSA is CUDA-like: the CUDA sources are the starting point)"},
      {"mtt_s80", "Moore Threads MTT S80", "gpu", 16, 448, 14.4, 0, 0, 255, 4, "spec",
       "Moore Threads MTT S80 product page: 16 GB GDDR6, 448 GB/s, 14.4 TFLOPS FP32 (no published BF16 rate; "
       "FP32 used)",
       "none yet"},
      {"bi_v100", "Iluvatar CoreX BI-V100", "gpu", 32, 1200, 147, 0, 295, 250, 8, "spec",
       "Iluvatar CoreX Tiangai 100 (BI-V100) product page: 32 GB HBM2, 1.2 TB/s, 147 TFLOPS FP16, 295 TOPS INT8",
       "none yet (CUDA-compatible toolkit: the CUDA sources are the starting point)"},
      {"mlu370_x8", "Cambricon MLU370-X8", "npu", 48, 614.4, 96, 0, 256, 250, 8, "spec",
       "Cambricon MLU370-X8 product page: 48 GB LPDDR5, 614.4 GB/s, 96 TFLOPS FP16/BF16, 256 TOPS INT8",
       "none yet"},
      {"kunpeng920", "Huawei Kunpeng 920-7260 (64 cores, 1 socket)", "cpu", 512, 187.7, 2.66, 0, 0, 180, 2,
       "spec-derived",
       "Kunpeng 920 product brief: 64 cores at 2.6 GHz, 8 channels DDR4-2933 (8 x 23.5 GB/s); FP32 peak "
       "derived as 64 x 2.6 GHz x 16 FLOP/cycle (2 x 128-bit NEON FMA, assumed); memory capacity per socket "
       "as configured (512 GB assumed)",
       "cpu (ARM NEON build: the portable quant kernels)"},
      {"epyc9654", "AMD EPYC 9654 (Genoa, 96 cores, 1 socket)", "cpu", 768, 460.8, 7.37, 0, 0, 360, 2,
       "spec-derived",
       "AMD EPYC 9654 product page: 96 cores, 2.4 GHz base, 12 channels DDR5-4800 (12 x 38.4 GB/s); FP32 peak "
       "derived as 96 x 2.4 GHz x 32 FLOP/cycle (AVX-512 on 2 x 256-bit FMA); 768 GB per socket assumed",
       "cpu"},
      {"xeon8480", "Intel Xeon Platinum 8480+ (Sapphire Rapids, 56 cores, 1 socket)", "cpu", 512, 307.2, 7.17, 0,
       0, 350, 2, "spec-derived",
       "Intel ARK Xeon Platinum 8480+: 56 cores, 2.0 GHz base, 8 channels DDR5-4800 (8 x 38.4 GB/s); FP32 peak "
       "derived as 56 x 2.0 GHz x 64 FLOP/cycle (2 x AVX-512 FMA); AMX not counted; 512 GB per socket assumed",
       "cpu"},
  };
  return v;
}

namespace {

ModelConfig mla(int hidden, int layers, int dense_layers, int inter, int moe_inter, int routed, int shared, int topk,
                int q_lora, int heads, int vocab) {
  ModelConfig c;
  c.arch = Arch::DeepSeekV3;
  c.hidden_size = hidden;
  c.num_hidden_layers = layers;
  c.first_k_dense_replace = dense_layers;
  c.intermediate_size = inter;
  c.moe_intermediate_size = moe_inter;
  c.n_routed_experts = routed;
  c.n_shared_experts = shared;
  c.num_experts_per_tok = topk;
  c.q_lora_rank = q_lora;
  c.kv_lora_rank = 512;
  c.qk_nope_head_dim = 128;
  c.qk_rope_head_dim = 64;
  c.v_head_dim = 128;
  c.num_attention_heads = c.num_key_value_heads = heads;
  c.vocab_size = vocab;
  return c;
}

ModelConfig gqa(Arch a, int hidden, int layers, int inter, int heads, int kv_heads, int vocab) {
  ModelConfig c;
  c.arch = a;
  c.hidden_size = hidden;
  c.num_hidden_layers = layers;
  c.intermediate_size = inter;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  c.head_dim = hidden / heads;
  c.vocab_size = vocab;
  return c;
}

std::string lower(std::string s) {
  for (auto& ch : s) ch = char(std::tolower((unsigned char)ch));
  return s;
}

}  // namespace

// Shapes from each model's published config.json on Hugging Face (deepseek-ai/...).
const std::vector<KnownModel>& known_models() {
  static const std::vector<KnownModel> v = {
      {"DeepSeek-V3", {"deepseek-v3", "v3", "deepseek-v3-0324", "deepseek-v3.1"},
       mla(7168, 61, 3, 18432, 2048, 256, 1, 8, 1536, 128, 129280), "FP8", 163840,
       "deepseek-ai/DeepSeek-V3 config.json"},
      {"DeepSeek-R1", {"deepseek-r1", "r1", "deepseek-r1-0528"}, mla(7168, 61, 3, 18432, 2048, 256, 1, 8, 1536, 128, 129280),
       "FP8", 163840, "deepseek-ai/DeepSeek-R1 config.json"},
      {"DeepSeek-V2", {"deepseek-v2", "v2", "deepseek-v2-chat", "deepseek-v2.5"},
       mla(5120, 60, 1, 12288, 1536, 160, 2, 6, 1536, 128, 102400), "BF16", 163840,
       "deepseek-ai/DeepSeek-V2 config.json"},
      {"DeepSeek-V2-Lite", {"deepseek-v2-lite", "v2-lite", "deepseek-v2-lite-chat"},
       mla(2048, 27, 1, 10944, 1408, 64, 2, 6, 0, 16, 102400), "BF16", 163840,
       "deepseek-ai/DeepSeek-V2-Lite config.json"},
      {"DeepSeek-R1-Distill-Qwen-1.5B", {"deepseek-r1-distill-qwen-1.5b", "r1-distill-qwen-1.5b"},
       gqa(Arch::Qwen2, 1536, 28, 8960, 12, 2, 151936), "BF16", 131072,
       "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B config.json"},
      {"DeepSeek-R1-Distill-Qwen-7B", {"deepseek-r1-distill-qwen-7b", "r1-distill-qwen-7b"},
       gqa(Arch::Qwen2, 3584, 28, 18944, 28, 4, 152064), "BF16", 131072,
       "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B config.json"},
      {"DeepSeek-R1-Distill-Qwen-14B", {"deepseek-r1-distill-qwen-14b", "r1-distill-qwen-14b"},
       gqa(Arch::Qwen2, 5120, 48, 13824, 40, 8, 152064), "BF16", 131072,
       "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B config.json"},
      {"DeepSeek-R1-Distill-Qwen-32B", {"deepseek-r1-distill-qwen-32b", "r1-distill-qwen-32b"},
       gqa(Arch::Qwen2, 5120, 64, 27648, 40, 8, 152064), "BF16", 131072,
       "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B config.json"},
      {"DeepSeek-R1-Distill-Llama-8B", {"deepseek-r1-distill-llama-8b", "r1-distill-llama-8b"},
       gqa(Arch::Llama, 4096, 32, 14336, 32, 8, 128256), "BF16", 131072,
       "deepseek-ai/DeepSeek-R1-Distill-Llama-8B config.json"},
      {"DeepSeek-R1-Distill-Llama-70B", {"deepseek-r1-distill-llama-70b", "r1-distill-llama-70b"},
       gqa(Arch::Llama, 8192, 80, 28672, 64, 8, 128256), "BF16", 131072,
       "deepseek-ai/DeepSeek-R1-Distill-Llama-70B config.json"},
  };
  return v;
}

const KnownModel* find_known_model(const std::string& name) {
  const std::string n = lower(name);
  for (const KnownModel& m : known_models()) {
    if (lower(m.name) == n) return &m;
    for (const auto& a : m.aliases)
      if (a == n || "deepseek-ai/" + a == n) return &m;
  }
  return nullptr;
}

ModelCounts model_counts(const ModelConfig& c) {
  ModelCounts k;
  const double D = c.hidden_size, L = c.num_hidden_layers, H = c.num_attention_heads;
  double attn = 0, kv = 0, mha = 0, attn_flops = 0;
  if (c.is_deepseek()) {
    const double qk = c.qk_head_dim(), r = c.kv_lora_rank, rope = c.qk_rope_head_dim, vd = c.v_head_dim;
    attn = (c.q_lora_rank > 0 ? D * c.q_lora_rank + c.q_lora_rank * H * qk : D * H * qk) + D * (r + rope) +
           r * H * (c.qk_nope_head_dim + vd) + H * vd * D;
    kv = (r + rope) * L;
    mha = H * (qk + vd) * L;
    // Absorbed decode: each head scores r + rope values and mixes r values per position.
    attn_flops = 2.0 * L * H * ((r + rope) + r);
  } else {
    const double hd = c.head_dim > 0 ? c.head_dim : D / H, kvh = c.num_key_value_heads;
    attn = D * (H * hd + 2 * kvh * hd) + H * hd * D;
    kv = 2 * kvh * hd * L;
    mha = 2 * H * hd * L;
    attn_flops = 2.0 * L * H * (hd + hd);
  }
  double ffn_total = 0, ffn_active = 0;
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    if (c.is_deepseek() && c.is_moe_layer(l)) {
      const double e = 3.0 * D * c.moe_intermediate_size;
      k.moe_expert_params = e;
      ++k.n_moe_layers;
      ffn_total += e * (c.n_routed_experts + c.n_shared_experts) + D * c.n_routed_experts;
      ffn_active += e * (c.num_experts_per_tok + c.n_shared_experts) + D * c.n_routed_experts;
    } else {
      ffn_total += 3.0 * D * c.intermediate_size;
      ffn_active += 3.0 * D * c.intermediate_size;
    }
  }
  k.embed_params = double(c.vocab_size) * D;
  const double head = c.tie_word_embeddings ? 0 : k.embed_params;
  k.total_params = attn * L + ffn_total + k.embed_params + head;
  // A token reads one embedding row, so the table is not active; the output head is.
  k.active_params = attn * L + ffn_active + (c.tie_word_embeddings ? k.embed_params : head);
  k.kv_values_per_token = kv;
  k.mha_kv_values_per_token = mha;
  k.attn_flops_per_token_per_ctx = attn_flops;
  return k;
}

}  // namespace dsrt::suite
