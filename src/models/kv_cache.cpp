#include "models/kv_cache.h"

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
