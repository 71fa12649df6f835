// Chat templates of the DeepSeek family, rendered natively (no Jinja engine). Each renderer
// reproduces its Hugging Face chat_template byte for byte, quirks included (for example, V3
// writes no <｜tool▁calls▁end｜> after a single tool call). detect_chat_template() recognises
// a tokenizer_config.json chat_template by substrings that only that template has.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dsrt {

enum class ChatTemplateKind {
  kDeepseekV2,         // DeepSeek-V2 / V2-Lite Chat: "User: ...\n\nAssistant: ..."
  kDeepseekV25,        // DeepSeek-V2.5: <｜User｜>/<｜Assistant｜>, last system prompt wins
  kDeepseekV3,         // DeepSeek-V3: system prompts joined with "\n\n"
  kDeepseekR1,         // DeepSeek-R1: V3 + drops reasoning of past turns, prompt opens <think>\n
  kDeepseekR1Distill,  // R1-Distill-Qwen / -Llama: like R1 with V2.5's system prompt handling
  kDeepseekV31,        // DeepSeek-V3.1: thinking / non-thinking via ChatOptions::thinking
};

struct ToolCall {
  std::string type = "function";
  std::string name;
  std::string arguments;  // JSON text, inserted as is
};

struct ChatMessage {
  std::string role;                    // "system", "user", "assistant", "tool"
  std::optional<std::string> content;  // nullopt renders as Jinja's none (assistant tool calls)
  std::string reasoning_content;       // kept for API symmetry; the templates drop it
  std::vector<ToolCall> tool_calls;
  std::string tool_call_id;
  bool prefix = false;  // V3.1: assistant prefix completion
};

struct ChatOptions {
  bool add_generation_prompt = true;
  bool thinking = false;  // V3.1 only
  std::string bos_token = "<｜begin▁of▁sentence｜>";
  std::string eos_token = "<｜end▁of▁sentence｜>";
};

Result<std::string> render_chat(ChatTemplateKind kind, const std::vector<ChatMessage>& messages,
                                const ChatOptions& opts);

// Which template a tokenizer_config.json chat_template is; an unknown one fails with a message
// that names the templates that can be forced instead.
Result<ChatTemplateKind> detect_chat_template(std::string_view jinja_source);

// "deepseek-v2", "deepseek-v2.5", "deepseek-v3", "deepseek-r1", "deepseek-r1-distill",
// "deepseek-v3.1".
Result<ChatTemplateKind> chat_template_from_name(std::string_view name);
std::string chat_template_name(ChatTemplateKind kind);
std::vector<std::string> chat_template_names();

}  // namespace dsrt
