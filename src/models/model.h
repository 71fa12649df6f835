// The model API shared by the CLI, the runtime and the server. A model is a sequence of
// backend ops over weights it got from a loader; it never names a device. Several sequences
// (each with its own KV cache) can run in one forward call: their tokens share every matmul,
// attention runs per sequence.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "loaders/model_config.h"

namespace dsrt {

enum class AttnForm {
  Naive,   // decompress K/V from the cached latent with kv_b_proj, attend per head
  Absorb,  // fold W_UK into q, attend over the latent, apply W_UV after (DeepSeek's "absorb")
};

struct ModelOptions {
  AttnForm attn = AttnForm::Absorb;
};

class KvCache {
 public:
  virtual ~KvCache() = default;
  int32_t n_ctx() const { return n_ctx_; }
  int32_t n_past() const { return n_past_; }  // positions already written
  virtual size_t bytes() const = 0;
  void clear() { n_past_ = 0; }
  // Forgets positions >= n (they are overwritten by the next forward); keeps a shared prefix.
  void truncate(int32_t n) { n_past_ = std::min(n_past_, std::max(n, 0)); }

 protected:
  friend class DeepSeekModel;
  friend class DenseModel;
  int32_t n_ctx_ = 0, n_past_ = 0;
};

struct SeqInput {
  KvCache* cache = nullptr;
  std::span<const int32_t> tokens;  // run at positions cache->n_past() ..
  bool all_logits = false;          // logits for every token, else only the last
};

struct WeightStats {
  int64_t n_params = 0;
  size_t weight_bytes = 0;                      // as stored in the file
  std::vector<std::pair<std::string, int64_t>> params_by_dtype;
};

class Model {
 public:
  virtual ~Model() = default;
  const ModelConfig& config() const { return config_; }
  const WeightStats& weight_stats() const { return stats_; }
  // Values stored per token per layer in the KV cache (MLA: kv_lora_rank + qk_rope_head_dim).
  virtual int64_t cache_values_per_token_layer() const = 0;
  virtual Result<std::unique_ptr<KvCache>> new_cache(int32_t n_ctx) const = 0;
  // Runs the batch; returns logits [rows, vocab], rows in batch order (every token of a
  // sequence with all_logits, else its last token). Advances each cache.
  virtual Result<Tensor> forward(const std::vector<SeqInput>& batch) = 0;

 protected:
  ModelConfig config_;
  WeightStats stats_;
};

// Loads a model from a checkpoint folder (config.json + safetensors) or from a GGUF file
// written by llama.cpp (architectures deepseek2, llama, qwen2; a .gguf name or the GGUF magic).
Result<std::unique_ptr<Model>> load_model(const std::string& path,
                                          std::shared_ptr<Backend> backend,
                                          const ModelOptions& opt = {});

}  // namespace dsrt
