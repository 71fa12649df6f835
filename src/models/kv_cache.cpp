#include "models/kv_cache.h"

#include <algorithm>
#include <cstring>

namespace dsrt {

KvArena::KvArena(int n_layer, int32_t n_blocks, int32_t block_size, int64_t row)
    : n_blocks_(n_blocks), block_size_(block_size), row_(row) {
  for (int l = 0; l < n_layer; ++l)
    layers_.push_back(Tensor::zeros_huge(DType::F32, {int64_t(n_blocks) * block_size, row}, "kv_arena"));
  for (int32_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);  // hand out 0, 1, 2, ...
  ref_.assign(size_t(n_blocks), 0);
  key_.assign(size_t(n_blocks), 0);
  parent_.assign(size_t(n_blocks), 0);
  lru_pos_.resize(size_t(n_blocks));
}

int32_t KvArena::n_free() const {
  std::lock_guard<std::mutex> lk(mu_);
  return int32_t(free_.size() + lru_.size());
}

int32_t KvArena::n_cached() const {
  std::lock_guard<std::mutex> lk(mu_);
  return int32_t(lru_.size());
}

uint64_t KvArena::hit_tokens() const {
  std::lock_guard<std::mutex> lk(mu_);
  return hit_tokens_;
}

bool KvArena::take(int32_t n, std::vector<int32_t>* out) {
  std::lock_guard<std::mutex> lk(mu_);
  if (int64_t(free_.size() + lru_.size()) < n) return false;
  for (int32_t i = 0; i < n; ++i) {
    int32_t b;
    if (!free_.empty()) {
      b = free_.back();
      free_.pop_back();
    } else {  // evict the least recently released cached block
      b = lru_.front();
      lru_.pop_front();
      index_.erase(key_[size_t(b)]);
      key_[size_t(b)] = 0;
    }
    ref_[size_t(b)] = 1;
    out->push_back(b);
  }
  return true;
}

void KvArena::give_back(const std::vector<int32_t>& blocks) {
  std::lock_guard<std::mutex> lk(mu_);
  for (int32_t b : blocks) {
    if (--ref_[size_t(b)] > 0) continue;
    if (key_[size_t(b)] != 0) {
      lru_pos_[size_t(b)] = lru_.insert(lru_.end(), b);
    } else {
      free_.push_back(b);
    }
  }
}

uint64_t KvArena::chain_key(uint64_t parent, const int32_t* tokens, int32_t n) {
  // FNV-1a over the parent key and the tokens, then a splitmix64 finaliser; 0 is reserved.
  uint64_t h = 1469598103934665603ull ^ parent;
  auto mix = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i, v >>= 8) h = (h ^ (v & 0xff)) * 1099511628211ull;
  };
  for (int32_t i = 0; i < n; ++i) mix(uint64_t(uint32_t(tokens[i])));
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h == 0 ? 1 : h;
}

// The cached blocks of keys[0..n) in order, up to the first one not cached (mu_ held).
void KvArena::match_locked(const uint64_t* keys, const int32_t* tokens, int32_t n, std::vector<int32_t>* out) const {
  for (int32_t i = 0; i < n; ++i) {
    auto it = index_.find(keys[i]);
    if (it == index_.end()) return;
    const int32_t b = it->second;
    const uint64_t parent = i == 0 ? 0 : keys[i - 1];
    if (parent_[size_t(b)] != parent ||
        !std::equal(tokens + int64_t(i) * block_size_, tokens + int64_t(i + 1) * block_size_,
                    tokens_.begin() + int64_t(b) * block_size_))
      return;
    out->push_back(b);
  }
}

int32_t KvArena::lookup(const uint64_t* keys, const int32_t* tokens, int32_t n, std::vector<int32_t>* out) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!prefix_on_) return 0;
  const size_t first = out->size();
  match_locked(keys, tokens, n, out);
  for (size_t j = first; j < out->size(); ++j) {
    const int32_t b = (*out)[j];
    if (ref_[size_t(b)]++ == 0) lru_.erase(lru_pos_[size_t(b)]);
  }
  const int32_t got = int32_t(out->size() - first);
  hit_tokens_ += uint64_t(got) * uint64_t(block_size_);
  return got;
}

int32_t KvArena::count_live(const uint64_t* keys, const int32_t* tokens, int32_t n) const {
  std::lock_guard<std::mutex> lk(mu_);
  if (!prefix_on_) return 0;
  std::vector<int32_t> found;
  match_locked(keys, tokens, n, &found);
  return int32_t(std::count_if(found.begin(), found.end(), [&](int32_t b) { return ref_[size_t(b)] > 0; }));
}

bool KvArena::publish(int32_t b, uint64_t key, uint64_t parent, const int32_t* tokens) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!prefix_on_ || key_[size_t(b)] != 0 || index_.count(key)) return false;
  if (tokens_.empty()) tokens_.assign(size_t(n_blocks_) * size_t(block_size_), 0);
  index_[key] = b;
  key_[size_t(b)] = key;
  parent_[size_t(b)] = parent;
  std::copy(tokens, tokens + block_size_, tokens_.begin() + int64_t(b) * block_size_);
  return true;
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

void KvArena::extend_chain_keys(std::vector<uint64_t>* keys, const int32_t* tokens, int32_t n_blocks,
                                int32_t bs) {
  for (int32_t i = int32_t(keys->size()); i < n_blocks; ++i)
    keys->push_back(chain_key(i == 0 ? 0 : keys->back(), tokens + int64_t(i) * bs, bs));
}

void KvSeq::extend_keys(std::span<const int32_t> tokens, int32_t n_blocks) {
  KvArena::extend_chain_keys(&keys_, tokens.data(), n_blocks, arena_->block_size());
}

namespace {
// The blocks attach_prefix looks up: full blocks of tokens[0, size - 1) (the last token is
// always computed), within the sequence's context.
int32_t prefix_lookup_blocks(size_t n_tokens, int32_t max_tokens, int32_t bs) {
  return std::min<int32_t>(int32_t((int64_t(n_tokens) - 1) / bs), max_tokens / bs);
}
}  // namespace

int32_t KvArenaPool::live_prefix_blocks(std::span<const int32_t> tokens, int32_t max_tokens) const {
  if (!arena_->prefix_cache() || tokens.empty()) return 0;
  const int32_t bs = arena_->block_size();
  const int32_t nb = prefix_lookup_blocks(tokens.size(), max_tokens, bs);
  if (nb <= 0) return 0;
  std::vector<uint64_t> keys;
  KvArena::extend_chain_keys(&keys, tokens.data(), nb, bs);
  return arena_->count_live(keys.data(), tokens.data(), nb);
}

int32_t KvSeq::attach_prefix(std::span<const int32_t> tokens) {
  if (!arena_->prefix_cache() || n_past_ != 0 || !blocks_.empty()) return 0;
  const int32_t bs = arena_->block_size();
  const int32_t nb = prefix_lookup_blocks(tokens.size(), n_ctx_, bs);
  if (nb <= 0) return 0;
  keys_.clear();
  extend_keys(tokens, nb);
  const int32_t got = arena_->lookup(keys_.data(), tokens.data(), nb, &blocks_);
  keys_.resize(size_t(got));
  shared_blocks_ = got;
  n_past_ = got * bs;
  return n_past_;
}

void KvSeq::publish_prefix(std::span<const int32_t> tokens) {
  if (!arena_->prefix_cache()) return;
  const int32_t bs = arena_->block_size();
  const int32_t full = std::min<int32_t>(n_past_, int32_t(tokens.size())) / bs;
  extend_keys(tokens, full);
  for (int32_t i = shared_blocks_; i < full; ++i)
    arena_->publish(blocks_[size_t(i)], keys_[size_t(i)], i == 0 ? 0 : keys_[size_t(i - 1)],
                    tokens.data() + int64_t(i) * bs);
  shared_blocks_ = std::max(shared_blocks_, full);
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
    if (kv->n_past() < kv->shared_upto())
      return Status::Error("forward: positions " + std::to_string(kv->n_past()) + ".." +
                           std::to_string(kv->shared_upto() - 1) +
                           " are in KV blocks shared with other sequences and cannot be rewritten");
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
