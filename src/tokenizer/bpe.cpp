#include "tokenizer/bpe.h"

#include <algorithm>
#include <cstdio>
#include <queue>

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace dsrt {

BpeModel::BpeModel(BpeModel&& o) noexcept {
  *this = std::move(o);
}

BpeModel& BpeModel::operator=(BpeModel&& o) noexcept {
  id_to_token_ = std::move(o.id_to_token_);
  token_to_id_ = std::move(o.token_to_id_);
  merges_ = std::move(o.merges_);
  merge_mask_ = o.merge_mask_;
  std::copy(std::begin(o.byte_ids_), std::end(o.byte_ids_), byte_ids_);
  std::copy(std::begin(o.byte_fallback_ids_), std::end(o.byte_fallback_ids_), byte_fallback_ids_);
  opts_ = o.opts_;
  cache_ = std::move(o.cache_);
  return *this;
}

const BpeModel::MergeSlot* BpeModel::find_merge(int32_t a, int32_t b) const {
  const uint64_t k = pair_key(a, b);
  for (size_t i = hash(k) & merge_mask_;; i = (i + 1) & merge_mask_) {
    const MergeSlot& s = merges_[i];
    if (s.key == k) return &s;
    if (s.key == MergeSlot::kEmpty) return nullptr;
  }
}

void BpeModel::insert_merge(int32_t a, int32_t b, int32_t rank, int32_t merged) {
  const uint64_t k = pair_key(a, b);
  for (size_t i = hash(k) & merge_mask_;; i = (i + 1) & merge_mask_) {
    MergeSlot& s = merges_[i];
    if (s.key == k) return;  // a repeated merge keeps its first (lowest) rank
    if (s.key == MergeSlot::kEmpty) {
      s = {k, rank, merged};
      return;
    }
  }
}

int32_t BpeModel::find(std::string_view text) const {
  auto it = token_to_id_.find(text);
  return it == token_to_id_.end() ? -1 : it->second;
}

void BpeModel::set_token(int32_t id, const std::string& text) {
  if (id >= n_vocab()) id_to_token_.resize(id + 1);
  id_to_token_[id] = text;
  token_to_id_.emplace(text, id);
}

Result<BpeModel> BpeModel::build(std::vector<std::string> vocab,
                                 const std::vector<std::pair<std::string, std::string>>& merges,
                                 const BpeOptions& opts) {
  BpeModel m;
  m.opts_ = opts;
  m.id_to_token_ = std::move(vocab);
  m.token_to_id_.reserve(m.id_to_token_.size() * 2);
  for (size_t i = 0; i < m.id_to_token_.size(); ++i)
    if (!m.id_to_token_[i].empty())
      m.token_to_id_.emplace(m.id_to_token_[i], static_cast<int32_t>(i));

  size_t cap = 16;
  while (cap < merges.size() * 2) cap <<= 1;
  m.merges_.assign(cap, MergeSlot{});
  m.merge_mask_ = cap - 1;
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [a, b] = merges[r];
    const int32_t ia = m.find(a), ib = m.find(b), im = m.find(a + b);
    if (ia < 0 || ib < 0 || im < 0)
      return Status::Error("merge " + std::to_string(r) + " \"" + a + " " + b +
                           "\" uses a token that is not in the vocab");
    m.insert_merge(ia, ib, static_cast<int32_t>(r), im);
  }
  for (int b = 0; b < 256; ++b) {
    m.byte_ids_[b] =
        opts.byte_level ? m.find(byte_level::byte_to_text(static_cast<uint8_t>(b))) : -1;
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    m.byte_fallback_ids_[b] = m.find(hex);
  }
  return m;
}

Status BpeModel::initial_symbols(std::string_view word, std::vector<int32_t>* syms) const {
  if (opts_.byte_level) {
    for (char c : word) {
      const int32_t id = byte_ids_[static_cast<uint8_t>(c)];
      if (id >= 0) {
        syms->push_back(id);
      } else if (opts_.unk_id >= 0) {
        syms->push_back(opts_.unk_id);
      } else {
        return Status::Error("byte 0x" + std::to_string(static_cast<uint8_t>(c)) +
                             " has no token in this byte-level vocab");
      }
    }
    return Status::Ok();
  }
  size_t i = 0;
  while (i < word.size()) {
    const size_t n = std::min(utf8::seq_len(static_cast<uint8_t>(word[i])), word.size() - i);
    const int32_t id = find(word.substr(i, n));
    if (id >= 0) {
      syms->push_back(id);
    } else if (opts_.byte_fallback) {
      for (size_t k = 0; k < n; ++k) {
        const int32_t b = byte_fallback_ids_[static_cast<uint8_t>(word[i + k])];
        if (b < 0) return Status::Error("byte fallback token missing from the vocab");
        syms->push_back(b);
      }
    } else if (opts_.unk_id >= 0) {
      syms->push_back(opts_.unk_id);
    } else {
      return Status::Error("character \"" + std::string(word.substr(i, n)) +
                           "\" has no token and the model has no unk_token");
    }
    i += n;
  }
  return Status::Ok();
}

// Applies merges lowest rank first, leftmost first among equal ranks (Hugging Face's order).
// A doubly linked list over the symbols plus a min-heap of candidate pairs; stale heap entries
// are recognised by re-checking the pair when popped.
void BpeModel::merge(std::vector<int32_t>& syms) const {
  const int n = static_cast<int>(syms.size());
  if (n < 2) return;
  struct Cand {
    int32_t rank;
    int pos;
    int32_t left, right;  // ids when pushed, to detect staleness
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<int> prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  std::vector<Cand> heap_storage;
  heap_storage.reserve(n);
  std::priority_queue<Cand, std::vector<Cand>, std::greater<>> heap(std::greater<>{},
                                                                    std::move(heap_storage));
  auto push = [&](int i) {
    const int j = next[i];
    if (i < 0 || j < 0) return;
    if (const MergeSlot* s = find_merge(syms[i], syms[j]))
      heap.push({s->rank, i, syms[i], syms[j]});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  std::vector<bool> dead(n, false);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    const int i = c.pos;
    if (dead[i] || syms[i] != c.left) continue;
    const int j = next[i];
    if (j < 0 || syms[j] != c.right) continue;
    syms[i] = find_merge(c.left, c.right)->merged;
    dead[j] = true;
    next[i] = next[j];
    if (next[j] >= 0) prev[next[j]] = i;
    if (prev[i] >= 0) push(prev[i]);
    push(i);
  }
  int w = 0;
  for (int i = 0; i >= 0; i = next[i]) syms[w++] = syms[i];
  syms.resize(w);
}

Status BpeModel::encode_word(std::string_view word, std::vector<int32_t>* out) const {
  if (word.empty()) return Status::Ok();
  const bool cacheable = opts_.cache_capacity > 0 && word.size() <= 256;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(word);
    if (it != cache_.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return Status::Ok();
    }
  }
  std::vector<int32_t> syms;
  bool whole = false;
  if (opts_.ignore_merges) {
    const int32_t id = opts_.byte_level ? find(byte_level::encode(word)) : find(word);
    if (id >= 0) {
      syms.push_back(id);
      whole = true;
    }
  }
  if (!whole) {
    syms.reserve(word.size());
    DSRT_RETURN_IF_ERROR(initial_symbols(word, &syms));
    merge(syms);
  }
  out->insert(out->end(), syms.begin(), syms.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() < opts_.cache_capacity) cache_.emplace(std::string(word), std::move(syms));
  }
  return Status::Ok();
}

}  // namespace dsrt
