// GGUF metadata for a file dsrt writes: the inverse of model_config_from_gguf (ModelConfig ->
// general.* and <arch>.* keys as llama.cpp's converter writes them) and the tokenizer.ggml.*
// keys, from a Hugging Face tokenizer.json (+ tokenizer_config.json) or copied from a GGUF.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "loaders/gguf.h"
#include "loaders/model_config.h"

namespace dsrt {

using GgufKvs = std::vector<std::pair<std::string, GgufValue>>;

// "deepseek2", "llama" or "qwen2".
const char* gguf_arch_name(const ModelConfig& c);

// general.architecture, general.name, <arch>.* hyper-parameters (MLA, experts, RoPE scaling),
// general.file_type. Errors for what GGUF cannot express (moe_layer_freq != 1, a DeepSeek YaRN
// with mscale != mscale_all_dim, a dense YaRN with an mscale, unknown rope types).
Result<GgufKvs> model_kvs(const ModelConfig& c, const std::string& name, int32_t file_type);

// tokenizer.ggml.* from a folder's tokenizer.json (+ tokenizer_config.json): model "gpt2",
// pre (the pre-tokenizer regexes matched against the names llama.cpp knows), tokens padded
// to vocab_size with [PADn] as llama.cpp's converter does, token_type, merges, bos/eos,
// add_bos_token, chat_template.
Result<GgufKvs> tokenizer_kvs_from_hf(const std::string& dir, const ModelConfig& c);
// Every tokenizer.* key of a GGUF file, in file order.
GgufKvs tokenizer_kvs_from_gguf(const GgufFile& f);
// Number of tokens the kvs describe (tokenizer.ggml.tokens), -1 when absent.
int64_t tokenizer_kvs_vocab(const GgufKvs& kvs);

}  // namespace dsrt
