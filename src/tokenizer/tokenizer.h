// Byte-level BPE tokenizer, byte-exact with Hugging Face `tokenizers` for the DeepSeek family
// (and Qwen2 / Llama-3 style tokenizer.json files, which use the same machinery with other
// regexes). Built from a tokenizer.json (+ tokenizer_config.json) or from raw parts such as
// GGUF `tokenizer.ggml.*` metadata.
//
// encode(): validate UTF-8 -> split out non-normalized added tokens -> normalizer -> split out
// normalized added tokens -> pre-tokenizer chain (PCRE2 regex splits) -> BPE per word (cached).
// decode(): per-token bytes (byte alphabet reversed) -> one lossy UTF-8 pass.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dsrt {

// What a GGUF file (or any other source) gives for a byte-level BPE vocabulary.
struct TokenizerParts {
  std::vector<std::string> tokens;   // tokenizer.ggml.tokens, byte-alphabet text
  std::vector<std::string> merges;   // tokenizer.ggml.merges, "a b"
  std::vector<int32_t> token_types;  // tokenizer.ggml.token_type (llama.cpp values); may be empty
  std::vector<std::string> pre_regexes;  // pre-tokenizer regexes; see gguf_pre_regexes()
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  std::vector<int32_t> extra_eos_ids;  // other end-of-generation ids (EOT, EOM)
  bool add_bos = false;
  std::string chat_template;
};

// llama.cpp token types (tokenizer.ggml.token_type).
enum class GgufTokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6
};

class Tokenizer {
 public:
  // `dir` holds tokenizer.json (and optionally tokenizer_config.json, generation_config.json):
  // a tokenizer folder or a Hugging Face checkpoint folder.
  static Result<Tokenizer> from_dir(const std::string& dir);
  // `config_path` may be empty.
  static Result<Tokenizer> from_files(const std::string& json_path, const std::string& config_path);
  // The same from file contents (`config_json` may be empty); `source` names them in errors.
  static Result<Tokenizer> from_json_text(std::string_view tokenizer_json,
                                          std::string_view config_json,
                                          const std::string& source = "tokenizer.json");
  static Result<Tokenizer> from_parts(const TokenizerParts& parts);
  // A GGUF file's tokenizer.ggml.* metadata (BPE "gpt2" model; the pre-tokenizer regexes come
  // from tokenizer.ggml.pre, see gguf_pre.h).
  static Result<Tokenizer> from_gguf(const std::string& path);
  // Whatever `path` is: a .gguf file, a tokenizer.json, or a folder holding tokenizer.json.
  static Result<Tokenizer> load(const std::string& path);

  // Invalid UTF-8 is an error. parse_special=false leaves special tokens (special=true) as
  // text; other added tokens are still matched, as transformers' split_special_tokens does.
  Result<std::vector<int32_t>> encode(std::string_view text, bool add_bos,
                                      bool parse_special = true) const;
  // The pre-token words encode() would run BPE on (added tokens as their content), for tests
  // and debugging.
  Result<std::vector<std::string>> pre_tokenize(std::string_view text) const;

  // Ids outside [0, n_vocab) are skipped. Invalid UTF-8 in the result becomes U+FFFD.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
  // The raw bytes token `id` stands for (may be part of a UTF-8 character).
  const std::string& token_bytes(int32_t id) const;
  // The vocab text of `id` ("Ġworld", "<｜User｜>"); empty when out of range.
  std::string token_text(int32_t id) const;
  std::optional<int32_t> token_id(std::string_view text) const;

  int32_t n_vocab() const;
  bool valid_id(int32_t id) const { return id >= 0 && id < n_vocab(); }
  bool is_special(int32_t id) const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  // eos_id() first, then every other end-of-generation id.
  const std::vector<int32_t>& eos_ids() const;
  bool is_eos(int32_t id) const;
  // tokenizer_config.json add_bos_token (or what the post-processor implies).
  bool add_bos_default() const;
  const std::string& chat_template() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Streaming detokenizer: push ids one at a time and get the text they complete. Never emits
// half a UTF-8 character; bytes that can no longer become valid come out as U+FFFD, exactly as
// a one-shot decode() of the same ids would.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special = false)
      : tok_(&tok), skip_special_(skip_special) {}
  std::string push(int32_t id);
  std::string flush();  // whatever is held back, with U+FFFD for an unfinished character

 private:
  const Tokenizer* tok_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace dsrt
