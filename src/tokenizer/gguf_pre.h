// The pre-tokenizer regexes behind each llama.cpp `tokenizer.ggml.pre` name that the DeepSeek
// family (and its distills) use. Each list is applied as a chain of Isolated splits followed by
// ByteLevel, which is how the corresponding Hugging Face tokenizer.json files are built.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dsrt {

// Known names: "deepseek-llm", "deepseek-coder", "deepseek-v3", "qwen2", "llama-bpe"
// (Llama-3), "gpt-2" and "default" (GPT-2's regex). Unknown names fail, listing these.
Result<std::vector<std::string>> gguf_pre_regexes(std::string_view pre_name);

// The names gguf_pre_regexes() knows, for messages and tests.
std::vector<std::string> gguf_pre_names();

}  // namespace dsrt
