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
  // Absorbed weights, but every chunk of 2+ tokens decompresses K/V (per head, through
  // W_UK^T and W_UV) and attends per head at d_k = nope + rope, d_v = v_head_dim.
  Expand,
  // Per chunk, the cheaper of Absorb and Expand by a FLOP count: a prompt's prefill expands
  // (its attention is 3.4x fewer FLOPs at V2's dims), decode and short chunks behind a long
  // context stay absorbed; backends without a GEMM-speed matmul_xw (Backend::fast_matmul_xw;
  // CUDA today) stay absorbed throughout. The default.
  Auto,
};

struct ModelOptions {
  AttnForm attn = AttnForm::Auto;
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
  // Makes sure positions [0, n) have storage. A cache from a KvPool takes the blocks it lacks
  // from the pool, all or none ("KV pool exhausted" otherwise); a contiguous cache only checks
  // n <= n_ctx(). forward() reserves what it needs itself.
  virtual Status reserve(int32_t n) {
    if (n > n_ctx_) return Status::Error("context full: " + std::to_string(n) + " > " + std::to_string(n_ctx_));
    return Status::Ok();
  }
  // Blocks this sequence holds from its pool (0 for a contiguous cache).
  virtual int32_t n_blocks_held() const { return 0; }
  // Prefix caching (sequences of a KvPool with it enabled; no-ops otherwise). attach_prefix,
  // on an empty sequence, takes over the longest run of cached full blocks whose tokens are
  // the start of `tokens` (never all of them: the last token is always computed, for its
  // logits) and returns the positions it skipped. publish_prefix offers this sequence's full
  // blocks of tokens[0, n_past()) to later sequences; `tokens` are this sequence's tokens
  // from position 0. Shared blocks are read-only: forward() refuses to rewrite them.
  virtual int32_t attach_prefix(std::span<const int32_t> tokens) { return 0; }
  virtual void publish_prefix(std::span<const int32_t> tokens) {}

 protected:
  friend struct CacheAccess;  // forward() advances n_past_ (models/kv_cache.h)
  int32_t n_ctx_ = 0, n_past_ = 0;
};

// A pool of fixed-size KV blocks shared by many sequences (a paged KV cache, as in vLLM's
// PagedAttention): a sequence holds only the blocks its tokens fill, and returns them to the
// pool when its KvCache is destroyed. This is what admission control in the server counts.
class KvPool {
 public:
  virtual ~KvPool() = default;
  virtual int32_t block_size() const = 0;  // tokens per block
  virtual int32_t n_blocks() const = 0;
  virtual int32_t n_free() const = 0;
  virtual size_t bytes() const = 0;        // the whole arena
  // A new, empty sequence of at most max_tokens positions; it takes blocks as it grows.
  virtual Result<std::unique_ptr<KvCache>> new_sequence(int32_t max_tokens) = 0;
  // Prefix caching: full blocks that sequences publish stay cached after they are released
  // (counted as free; evicted least recently used when blocks run out) and later sequences
  // with the same leading tokens attach them instead of recomputing (KvCache::attach_prefix).
  virtual void enable_prefix_cache() {}
  virtual int32_t n_cached() const { return 0; }           // free blocks holding a cached prefix
  virtual uint64_t prefix_hit_tokens() const { return 0; }  // positions attached so far
  // How many of the blocks a new sequence of max_tokens would attach for this prompt are
  // held by running sequences right now (not counted in n_free(), so attaching them costs
  // nothing); admission subtracts them from what the prompt needs. Takes no references.
  virtual int32_t live_prefix_blocks(std::span<const int32_t> tokens, int32_t max_tokens) const {
    (void)tokens, (void)max_tokens;
    return 0;
  }
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
  // Both families keep cache_values_per_token_layer() floats per token and layer in a
  // KvArena (models/kv_cache.h), so the cache constructors live here.
  Result<std::unique_ptr<KvCache>> new_cache(int32_t n_ctx) const;
  // A paged cache of n_blocks blocks of block_size tokens for all layers.
  Result<std::unique_ptr<KvPool>> new_kv_pool(int32_t n_blocks, int32_t block_size) const;
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
