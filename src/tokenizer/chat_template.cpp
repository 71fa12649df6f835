#include "tokenizer/chat_template.h"

namespace dsrt {
namespace {

// Token texts shared by the templates.
constexpr std::string_view kUser = "<｜User｜>";
constexpr std::string_view kAssistant = "<｜Assistant｜>";
constexpr std::string_view kCallsBegin = "<｜tool▁calls▁begin｜>";
constexpr std::string_view kCallsEnd = "<｜tool▁calls▁end｜>";
constexpr std::string_view kCallBegin = "<｜tool▁call▁begin｜>";
constexpr std::string_view kCallEnd = "<｜tool▁call▁end｜>";
constexpr std::string_view kSep = "<｜tool▁sep｜>";
constexpr std::string_view kOutputsBegin = "<｜tool▁outputs▁begin｜>";
constexpr std::string_view kOutputsEnd = "<｜tool▁outputs▁end｜>";
constexpr std::string_view kOutputBegin = "<｜tool▁output▁begin｜>";
constexpr std::string_view kOutputEnd = "<｜tool▁output▁end｜>";

std::string cat(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (auto p : parts) s += p;
  return s;
}

// Jinja would raise on `none + str`; we refuse the same inputs with a message.
Result<std::string> text_of(const ChatMessage& m, size_t i) {
  if (!m.content)
    return Status::Error("messages[" + std::to_string(i) + "] (" + m.role +
                         ") has no content, which this template requires");
  return *m.content;
}

Status check_roles(const std::vector<ChatMessage>& messages) {
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& r = messages[i].role;
    if (r != "system" && r != "user" && r != "assistant" && r != "tool")
      return Status::Error("messages[" + std::to_string(i) + "]: unknown role \"" + r +
                           "\" (expected system, user, assistant or tool)");
  }
  return Status::Ok();
}

// A V3-style tool call line: type<sep>name\n```json\nargs\n```<call end>.
std::string v3_call(const ToolCall& t) {
  return cat({t.type, kSep, t.name, "\n```json\n", t.arguments, "\n```", kCallEnd});
}

// DeepSeek-V2 Chat.
Result<std::string> render_v2(const std::vector<ChatMessage>& ms, const ChatOptions& o) {
  std::string out = o.bos_token;
  for (size_t i = 0; i < ms.size(); ++i) {
    const ChatMessage& m = ms[i];
    if (m.role == "tool") continue;  // the template has no branch for it
    DSRT_ASSIGN_OR_RETURN(std::string c, text_of(m, i));
    if (m.role == "user")
      out += "User: " + c + "\n\n";
    else if (m.role == "assistant")
      out += "Assistant: " + c + o.eos_token;
    else
      out += c + "\n\n";
  }
  if (o.add_generation_prompt) out += "Assistant:";
  return out;
}

// V2.5, V3, R1 and R1-Distill share one structure; they differ in how system prompts combine,
// whether past reasoning is cut out of assistant turns, and the generation prompt.
struct V3Family {
  bool join_system;      // V3/R1: all system prompts joined by "\n\n"; V2.5/Distill: last wins
  bool strip_reasoning;  // R1/Distill: content.split('</think>')[-1]
  std::string_view gen_prompt;
};

Result<std::string> render_v3_family(const std::vector<ChatMessage>& ms, const ChatOptions& o,
                                     const V3Family& f) {
  std::string system;
  bool first_sp = true;
  for (size_t i = 0; i < ms.size(); ++i) {
    if (ms[i].role != "system") continue;
    DSRT_ASSIGN_OR_RETURN(std::string c, text_of(ms[i], i));
    if (!f.join_system)
      system = c;
    else if (first_sp)
      system += c;
    else
      system += "\n\n" + c;
    first_sp = false;
  }
  std::string out = o.bos_token + system;
  bool is_first = false, is_tool = false, is_output_first = true;
  for (size_t i = 0; i < ms.size(); ++i) {
    const ChatMessage& m = ms[i];
    if (m.role == "user") {
      is_tool = false;
      DSRT_ASSIGN_OR_RETURN(std::string c, text_of(m, i));
      out += cat({kUser, c});
    }
    if (m.role == "assistant" && !m.content) {
      is_tool = false;
      // As in the original template: ns.is_first is never reset, so only the very first tool
      // call of the conversation opens <｜tool▁calls▁begin｜>, and <｜tool▁calls▁end｜> is
      // written after each later call.
      for (const ToolCall& t : m.tool_calls) {
        if (!is_first) {
          out += cat({kAssistant, kCallsBegin, kCallBegin, v3_call(t)});
          is_first = true;
        } else {
          out += cat({"\n", kCallBegin, v3_call(t), kCallsEnd, o.eos_token});
        }
      }
    }
    if (m.role == "assistant" && m.content) {
      if (is_tool) {
        out += cat({kOutputsEnd, *m.content, o.eos_token});
        is_tool = false;
      } else {
        std::string c = *m.content;
        if (f.strip_reasoning) {
          const size_t p = c.rfind("</think>");
          if (p != std::string::npos) c = c.substr(p + 8);
        }
        out += cat({kAssistant, c, o.eos_token});
      }
    }
    if (m.role == "tool") {
      is_tool = true;
      DSRT_ASSIGN_OR_RETURN(std::string c, text_of(m, i));
      if (is_output_first) {
        out += cat({kOutputsBegin, kOutputBegin, c, kOutputEnd});
        is_output_first = false;
      } else {
        out += cat({"\n", kOutputBegin, c, kOutputEnd});
      }
    }
  }
  if (is_tool) out += kOutputsEnd;
  if (o.add_generation_prompt && !is_tool) out += f.gen_prompt;
  return out;
}

// DeepSeek-V3.1: an assistant turn after a user turn opens with <｜Assistant｜></think>
// (non-thinking) and the generation prompt with <think> or </think>; past reasoning is cut
// (content.split('</think>', 1)[1]); tool calls are name<sep>arguments without a type.
Result<std::string> render_v31(const std::vector<ChatMessage>& ms, const ChatOptions& o) {
  std::string system;
  bool first_sp = true;
  for (size_t i = 0; i < ms.size(); ++i) {
    if (ms[i].role != "system") continue;
    DSRT_ASSIGN_OR_RETURN(std::string c, text_of(ms[i], i));
    system += first_sp ? c : "\n\n" + c;
    first_sp = false;
  }
  std::string out = o.bos_token + system;
  bool is_first = false, is_tool = false, is_last_user = false;
  for (size_t i = 0; i < ms.size(); ++i) {
    const ChatMessage& m = ms[i];
    if (m.role == "user") {
      is_tool = false;
      is_first = false;
      is_last_user = true;
      DSRT_ASSIGN_OR_RETURN(std::string c, text_of(m, i));
      out += cat({kUser, c});
    }
    if (m.role == "assistant" && !m.tool_calls.empty()) {
      if (is_last_user) out += cat({kAssistant, "</think>"});
      is_last_user = false;
      is_first = false;
      is_tool = false;
      for (const ToolCall& t : m.tool_calls) {
        if (!is_first) {
          out += cat({m.content ? std::string_view(*m.content) : std::string_view(), kCallsBegin,
                      kCallBegin, t.name, kSep, t.arguments, kCallEnd});
          is_first = true;
        } else {
          out += cat({kCallBegin, t.name, kSep, t.arguments, kCallEnd});
        }
      }
      out += cat({kCallsEnd, o.eos_token});
    }
    if (m.role == "assistant" && m.tool_calls.empty()) {
      if (is_last_user) {
        out += kAssistant;
        out += (m.prefix && o.thinking) ? "<think>" : "</think>";
      }
      is_last_user = false;
      DSRT_ASSIGN_OR_RETURN(std::string c, text_of(m, i));
      if (is_tool) {
        out += c + o.eos_token;
        is_tool = false;
      } else {
        const size_t p = c.find("</think>");
        if (p != std::string::npos) c = c.substr(p + 8);
        out += c + o.eos_token;
      }
    }
    if (m.role == "tool") {
      is_last_user = false;
      is_tool = true;
      DSRT_ASSIGN_OR_RETURN(std::string c, text_of(m, i));
      out += cat({kOutputBegin, c, kOutputEnd});
    }
  }
  if (o.add_generation_prompt && is_last_user && !is_tool)
    out += cat({kAssistant, o.thinking ? "<think>" : "</think>"});
  return out;
}

struct NamedKind {
  const char* name;
  ChatTemplateKind kind;
};
constexpr NamedKind kNames[] = {
    {"deepseek-v2", ChatTemplateKind::kDeepseekV2},
    {"deepseek-v2.5", ChatTemplateKind::kDeepseekV25},
    {"deepseek-v3", ChatTemplateKind::kDeepseekV3},
    {"deepseek-r1", ChatTemplateKind::kDeepseekR1},
    {"deepseek-r1-distill", ChatTemplateKind::kDeepseekR1Distill},
    {"deepseek-v3.1", ChatTemplateKind::kDeepseekV31},
};

std::string names_list() {
  std::string s;
  for (const auto& n : kNames) s += (s.empty() ? "" : ", ") + std::string(n.name);
  return s;
}

}  // namespace

Result<std::string> render_chat(ChatTemplateKind kind, const std::vector<ChatMessage>& messages,
                                const ChatOptions& opts) {
  DSRT_RETURN_IF_ERROR(check_roles(messages));
  switch (kind) {
    case ChatTemplateKind::kDeepseekV2:
      return render_v2(messages, opts);
    case ChatTemplateKind::kDeepseekV25:
      return render_v3_family(messages, opts, {false, false, kAssistant});
    case ChatTemplateKind::kDeepseekV3:
      return render_v3_family(messages, opts, {true, false, kAssistant});
    case ChatTemplateKind::kDeepseekR1:
      return render_v3_family(messages, opts, {true, true, "<｜Assistant｜><think>\n"});
    case ChatTemplateKind::kDeepseekR1Distill:
      return render_v3_family(messages, opts, {false, true, "<｜Assistant｜><think>\n"});
    case ChatTemplateKind::kDeepseekV31:
      return render_v31(messages, opts);
  }
  return Status::Error("unknown chat template kind");
}

Result<ChatTemplateKind> detect_chat_template(std::string_view src) {
  auto has = [&](std::string_view s) { return src.find(s) != std::string_view::npos; };
  if (src.empty())
    return Status::Error("the tokenizer has no chat_template; force one of: " + names_list());
  if (has("thinking") && has("</think>") && has("is_last_user"))
    return ChatTemplateKind::kDeepseekV31;
  const bool think_prompt = has("<｜Assistant｜><think>\\n") || has("<｜Assistant｜><think>\n");
  const bool joins_system = has("is_first_sp");
  const bool v3_shape =
      has("<｜User｜>") && has("<｜tool▁outputs▁end｜>") && has("is_output_first");
  if (v3_shape && think_prompt && has("split('</think>')[-1]"))
    return joins_system ? ChatTemplateKind::kDeepseekR1 : ChatTemplateKind::kDeepseekR1Distill;
  if (v3_shape && !think_prompt && !has("</think>"))
    return joins_system ? ChatTemplateKind::kDeepseekV3 : ChatTemplateKind::kDeepseekV25;
  if (has("'User: '") && has("'Assistant: '") && has("'Assistant:'"))
    return ChatTemplateKind::kDeepseekV2;
  return Status::Error(
      "unrecognised chat_template (not one of the DeepSeek templates dsrt renders natively); "
      "force one by name: " +
      names_list());
}

Result<ChatTemplateKind> chat_template_from_name(std::string_view name) {
  for (const auto& n : kNames)
    if (name == n.name) return n.kind;
  return Status::Error("unknown chat template \"" + std::string(name) +
                       "\" (known: " + names_list() + ")");
}

std::string chat_template_name(ChatTemplateKind kind) {
  for (const auto& n : kNames)
    if (n.kind == kind) return n.name;
  return "unknown";
}

std::vector<std::string> chat_template_names() {
  std::vector<std::string> v;
  for (const auto& n : kNames) v.push_back(n.name);
  return v;
}

}  // namespace dsrt
