// The BPE model: vocabulary, merge ranks and the merge loop. Ranks live in an open-addressing
// hash map keyed on the pair of token ids, so a merge step never builds a string. Results are
// cached per pre-token word (bounded; once full, new words are computed but not stored).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace dsrt {

struct BpeOptions {
  bool byte_level = true;      // words are raw bytes, symbols come from the byte alphabet
  bool byte_fallback = false;  // unknown characters become <0xXX> tokens (SentencePiece style)
  bool ignore_merges = false;  // a word that is itself a vocab entry is emitted whole (Llama-3)
  int32_t unk_id = -1;
  size_t cache_capacity = 1 << 17;
};

class BpeModel {
 public:
  // `vocab[i]` is the text of token i (byte-alphabet text for byte-level models; an empty
  // string marks a hole in the id space). Each merge is a pair of token texts.
  static Result<BpeModel> build(std::vector<std::string> vocab,
                                const std::vector<std::pair<std::string, std::string>>& merges,
                                const BpeOptions& opts);

  BpeModel() = default;
  BpeModel(BpeModel&& o) noexcept;
  BpeModel& operator=(BpeModel&& o) noexcept;

  // Appends the ids for one pre-token word. Returns an error only when a character has no
  // token and there is neither byte fallback nor an unk token.
  Status encode_word(std::string_view word, std::vector<int32_t>* out) const;

  int32_t n_vocab() const { return static_cast<int32_t>(id_to_token_.size()); }
  const std::string& token(int32_t id) const { return id_to_token_[id]; }
  int32_t find(std::string_view text) const;  // -1 when absent
  const BpeOptions& options() const { return opts_; }
  // Adds an id beyond the current vocab (added tokens that are not vocab entries).
  void set_token(int32_t id, const std::string& text);

 private:
  struct MergeSlot {
    uint64_t key = kEmpty;  // (left << 32) | right
    int32_t rank = 0;
    int32_t merged = 0;
    static constexpr uint64_t kEmpty = ~uint64_t{0};
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  static size_t hash(uint64_t k) { return static_cast<size_t>((k * 0x9E3779B97F4A7C15ull) >> 20); }
  const MergeSlot* find_merge(int32_t a, int32_t b) const;
  void insert_merge(int32_t a, int32_t b, int32_t rank, int32_t merged);
  Status initial_symbols(std::string_view word, std::vector<int32_t>* syms) const;
  void merge(std::vector<int32_t>& syms) const;

  struct StrHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using StrMap = std::unordered_map<std::string, int32_t, StrHash, std::equal_to<>>;

  std::vector<std::string> id_to_token_;
  StrMap token_to_id_;
  std::vector<MergeSlot> merges_;  // power-of-two capacity
  size_t merge_mask_ = 0;
  int32_t byte_ids_[256] = {};
  int32_t byte_fallback_ids_[256] = {};
  BpeOptions opts_;

  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StrHash, std::equal_to<>> cache_;
};

}  // namespace dsrt
