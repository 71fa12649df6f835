// The KV cache both model families use: per layer, one row of `row_floats` values per token
// (MLA: the latent c_KV + k_pe; dense: K then V of every KV head), stored in fixed-size blocks
// of an arena. A sequence maps its positions to blocks through a block table, so many
// sequences share one arena (paged KV cache) and attention reads rows through the table.
// A stand-alone cache (Model::new_cache) is an arena of one block sized to its context.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "models/model.h"

namespace dsrt {

class KvArena {
 public:
  KvArena(int n_layer, int32_t n_blocks, int32_t block_size, int64_t row_floats);
  int32_t block_size() const { return block_size_; }
  int32_t n_blocks() const { return n_blocks_; }
  int64_t row_floats() const { return row_; }
  int n_layer() const { return int(layers_.size()); }
  int32_t n_free() const;
  size_t bytes() const { return layers_.size() * size_t(n_blocks_) * block_size_ * size_t(row_) * 4; }
  float* layer_base(int l) { return layers_[l].f32(); }
  // Takes n blocks (all or none); false when the pool has fewer free. Free blocks that hold a
  // cached prefix are taken last, least recently released first.
  bool take(int32_t n, std::vector<int32_t>* out);
  // Drops one reference to each block; a block nobody references is free again (and stays
  // cached if it holds a published prefix).
  void give_back(const std::vector<int32_t>& blocks);

  // Prefix cache (off until enabled). A full block is identified by a chain key: a hash of
  // its parent block's key and its own tokens; the tokens and the parent key are kept and
  // compared on lookup, so a hash collision cannot hand out a wrong block.
  void enable_prefix_cache() { prefix_on_ = true; }
  bool prefix_cache() const { return prefix_on_; }
  static uint64_t chain_key(uint64_t parent, const int32_t* tokens, int32_t n);
  // Appends the chain keys of tokens' full blocks [keys->size(), n_blocks) of block_size.
  static void extend_chain_keys(std::vector<uint64_t>* keys, const int32_t* tokens, int32_t n_blocks,
                                int32_t block_size);
  // Appends to `out` (taking a reference to each) the cached blocks of keys[0..n) in order,
  // stopping at the first one not cached; returns how many.
  int32_t lookup(const uint64_t* keys, const int32_t* tokens, int32_t n, std::vector<int32_t>* out);
  // Of the blocks lookup would return for keys[0..n), how many are referenced now (held by
  // running sequences). Takes no references and counts no hits.
  int32_t count_live(const uint64_t* keys, const int32_t* tokens, int32_t n) const;
  // Registers full block b (held by the caller) under key; false if that key is cached already.
  bool publish(int32_t b, uint64_t key, uint64_t parent, const int32_t* tokens);
  int32_t n_cached() const;
  uint64_t hit_tokens() const;

 private:
  void match_locked(const uint64_t* keys, const int32_t* tokens, int32_t n, std::vector<int32_t>* out) const;
  int32_t n_blocks_, block_size_;
  int64_t row_;
  std::vector<Tensor> layers_;  // [n_blocks * block_size, row]
  mutable std::mutex mu_;
  std::vector<int32_t> free_;  // unreferenced, holding nothing cached
  std::vector<int32_t> ref_;   // references per block
  bool prefix_on_ = false;
  std::vector<uint64_t> key_, parent_;  // per block; key 0 = not published
  std::vector<int32_t> tokens_;         // [n_blocks, block_size] tokens of published blocks
  std::unordered_map<uint64_t, int32_t> index_;
  std::list<int32_t> lru_;  // unreferenced published blocks, oldest release first
  std::vector<std::list<int32_t>::iterator> lru_pos_;
  uint64_t hit_tokens_ = 0;
};

class KvSeq final : public KvCache {
 public:
  KvSeq(std::shared_ptr<KvArena> arena, int32_t max_tokens);
  ~KvSeq() override;
  size_t bytes() const override {
    return blocks_.size() * size_t(arena_->block_size()) * size_t(arena_->row_floats()) * 4 *
           size_t(arena_->n_layer());
  }
  Status reserve(int32_t n) override;
  int32_t n_blocks_held() const override { return int32_t(blocks_.size()); }
  int32_t attach_prefix(std::span<const int32_t> tokens) override;
  void publish_prefix(std::span<const int32_t> tokens) override;
  // Positions [0, shared_upto()) lie in blocks other sequences may read (attached or
  // published): they must not be written again.
  int32_t shared_upto() const { return shared_blocks_ * arena_->block_size(); }

  // Row of position p in layer l (storage must be reserved).
  float* row(int l, int64_t p) {
    const int64_t bs = arena_->block_size();
    return arena_->layer_base(l) + (int64_t(blocks_[p / bs]) * bs + p % bs) * arena_->row_floats();
  }
  float* layer_base(int l) { return arena_->layer_base(l); }
  const int32_t* block_table() const { return blocks_.data(); }
  int32_t block_size() const { return arena_->block_size(); }
  const KvArena* arena() const { return arena_.get(); }

 private:
  // Appends the chain keys of tokens' full blocks [keys_.size(), n_blocks).
  void extend_keys(std::span<const int32_t> tokens, int32_t n_blocks);

  std::shared_ptr<KvArena> arena_;
  std::vector<int32_t> blocks_;
  int32_t shared_blocks_ = 0;    // leading blocks attached or published
  std::vector<uint64_t> keys_;   // chain keys of the leading full blocks known so far
};

class KvArenaPool final : public KvPool {
 public:
  explicit KvArenaPool(std::shared_ptr<KvArena> a) : arena_(std::move(a)) {}
  int32_t block_size() const override { return arena_->block_size(); }
  int32_t n_blocks() const override { return arena_->n_blocks(); }
  int32_t n_free() const override { return arena_->n_free(); }
  size_t bytes() const override { return arena_->bytes(); }
  Result<std::unique_ptr<KvCache>> new_sequence(int32_t max_tokens) override;
  void enable_prefix_cache() override { arena_->enable_prefix_cache(); }
  int32_t n_cached() const override { return arena_->n_cached(); }
  uint64_t prefix_hit_tokens() const override { return arena_->hit_tokens(); }
  int32_t live_prefix_blocks(std::span<const int32_t> tokens, int32_t max_tokens) const override;

 private:
  std::shared_ptr<KvArena> arena_;
};

// The part of forward() both families share. prepare_batch validates every sequence (a KvSeq
// with rows of `row_floats`, non-empty tokens inside the vocabulary and the context), reserves
// storage for the new positions, and flattens the batch; take_output_rows copies the rows of
// `h` whose logits are wanted and advances every cache past its tokens.
struct BatchLayout {
  std::vector<int32_t> tokens, pos;  // every token of the batch with its absolute position
  int64_t n_out = 0;                 // logits rows wanted
};
Result<BatchLayout> prepare_batch(const std::vector<SeqInput>& batch, int64_t row_floats,
                                  int32_t vocab_size, const char* cache_kind);
Tensor take_output_rows(const std::vector<SeqInput>& batch, const Tensor& h, int64_t n_out);

struct CacheAccess {
  static void advance(KvCache& c, int32_t n) { c.n_past_ += n; }
};

// Helpers for the models' new_cache / new_kv_pool.
Result<std::unique_ptr<KvCache>> make_contiguous_kv(int n_layer, int32_t n_ctx, int64_t row_floats);
Result<std::unique_ptr<KvPool>> make_kv_pool(int n_layer, int32_t n_blocks, int32_t block_size,
                                             int64_t row_floats);

}  // namespace dsrt
