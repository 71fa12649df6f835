#include "models/kv_cache.h"

#include <cstring>

namespace dsrt {

KvArena::KvArena(int n_layer, int32_t n_blocks, int32_t block_size, int64_t row)
    : n_blocks_(n_blocks), block_size_(block_size), row_(row) {
  for (int l = 0; l < n_layer; ++l)
    layers_.push_back(Tensor::zeros(DType::F32, {int64_t(n_blocks) * block_size, row}, "kv_arena"));
  for (int32_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);  // hand out 0, 1, 2, ...
}

int32_t KvArena::n_free() const {
  std::lock_guard<std::mutex> lk(mu_);
  return int32_t(free_.size());
}

bool KvArena::take(int32_t n, std::vector<int32_t>* out) {
  std::lock_guard<std::mutex> lk(mu_);
  if (int32_t(free_.size()) < n) return false;
  for (int32_t i = 0; i < n; ++i) {
    out->push_back(free_.back());
    free_.pop_back();
  }
  return true;
}

void KvArena::give_back(const std::vector<int32_t>& blocks) {
  std::lock_guard<std::mutex> lk(mu_);
  free_.insert(free_.end(), blocks.begin(), blocks.end());
}

KvSeq::KvSeq(std::shared_ptr<KvArena> arena, int32_t max_tokens) : arena_(std::move(arena)) {
  n_ctx_ = max_tokens;
}

KvSeq::~KvSeq() { arena_->give_back(blocks_); }

Status KvSeq::reserve(int32_t n) {
  if (n > n_ctx_)
    return Status::Error("context full: " + std::to_string(n) + " positions > " + std::to_string(n_ctx_));
  const int32_t bs = arena_->block_size();
  const int32_t need = (n + bs - 1) / bs - int32_t(blocks_.size());
  if (need <= 0) return Status::Ok();
  if (!arena_->take(need, &blocks_))
    return Status::Error("KV pool exhausted: " + std::to_string(need) + " more blocks needed, " +
                         std::to_string(arena_->n_free()) + " free");
  return Status::Ok();
}

Result<std::unique_ptr<KvCache>> KvArenaPool::new_sequence(int32_t max_tokens) {
  if (max_tokens <= 0) return Status::Error("max_tokens must be positive");
  return std::unique_ptr<KvCache>(new KvSeq(arena_, max_tokens));
}

Result<BatchLayout> prepare_batch(const std::vector<SeqInput>& batch, int64_t row_floats,
                                  int32_t vocab_size, const char* cache_kind) {
  BatchLayout b;
  for (const SeqInput& s : batch) {
    auto* kv = dynamic_cast<KvSeq*>(s.cache);
    if (!kv || kv->arena()->row_floats() != row_floats)
      return Status::Error(std::string("forward: a sequence has no ") + cache_kind + " of this model");
    if (s.tokens.empty()) return Status::Error("forward: empty token list");
    if (int64_t(s.cache->n_past()) + int64_t(s.tokens.size()) > s.cache->n_ctx())
      return Status::Error("forward: " + std::to_string(s.cache->n_past() + s.tokens.size()) +
                           " positions exceed the context size " + std::to_string(s.cache->n_ctx()));
    for (size_t i = 0; i < s.tokens.size(); ++i) {
      if (s.tokens[i] < 0 || s.tokens[i] >= vocab_size)
        return Status::Error("token id " + std::to_string(s.tokens[i]) + " is outside the vocabulary (0.." +
                             std::to_string(vocab_size - 1) + ")");
      b.tokens.push_back(s.tokens[i]);
      b.pos.push_back(int32_t(s.cache->n_past() + i));
    }
    b.n_out += s.all_logits ? int64_t(s.tokens.size()) : 1;
  }
  // Storage for every new position (paged caches take blocks from their pool here).
  for (const SeqInput& s : batch)
    DSRT_RETURN_IF_ERROR(s.cache->reserve(s.cache->n_past() + int32_t(s.tokens.size())));
  return b;
}

Tensor take_output_rows(const std::vector<SeqInput>& batch, const Tensor& h, int64_t n_out) {
  const int64_t D = h.cols();
  Tensor sel = Tensor::zeros(DType::F32, {n_out, D});
  int64_t t0 = 0, o = 0;
  for (const SeqInput& s : batch) {
    const int64_t n = int64_t(s.tokens.size());
    for (int64_t i = s.all_logits ? 0 : n - 1; i < n; ++i, ++o)
      std::memcpy(sel.f32() + o * D, h.f32() + (t0 + i) * D, size_t(D) * 4);
    t0 += n;
    CacheAccess::advance(*s.cache, int32_t(n));
  }
  return sel;
}

Result<std::unique_ptr<KvCache>> make_contiguous_kv(int n_layer, int32_t n_ctx, int64_t row) {
  if (n_ctx <= 0) return Status::Error("context size must be positive");
  auto arena = std::make_shared<KvArena>(n_layer, 1, n_ctx, row);
  auto seq = std::make_unique<KvSeq>(arena, n_ctx);
  DSRT_RETURN_IF_ERROR(seq->reserve(n_ctx));
  return std::unique_ptr<KvCache>(std::move(seq));
}

Result<std::unique_ptr<KvPool>> make_kv_pool(int n_layer, int32_t n_blocks, int32_t block_size, int64_t row) {
  if (n_blocks <= 0 || block_size <= 0) return Status::Error("KV pool needs positive n_blocks and block_size");
  return std::unique_ptr<KvPool>(new KvArenaPool(std::make_shared<KvArena>(n_layer, n_blocks, block_size, row)));
}

}  // namespace dsrt
