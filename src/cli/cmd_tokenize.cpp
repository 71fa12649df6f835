// `dsrt tokenize`, `dsrt detokenize` and `dsrt chat-render`: the tokenizer and chat templates
// from the command line. --model takes a tokenizer folder, a checkpoint folder (tokenizer.json
// inside), a tokenizer.json or a .gguf file.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/common.h"
#include "core/mmap_file.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace dsrt::cli {
namespace {

std::string ids_json(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "]";
}

int run_tokenize(const std::string& model, const std::string& text, const std::string& file,
                 bool add_bos, bool no_special) {
  std::string input = text;
  if (!file.empty()) {
    auto t = read_text_file(file);
    if (!t.ok()) return fail("tokenize", file + ": " + t.status().message());
    input = std::move(t.value());
  }
  auto tok = Tokenizer::load(model);
  if (!tok.ok()) return fail("tokenize", tok.status().message());
  auto ids = tok.value().encode(input, add_bos, !no_special);
  if (!ids.ok()) return fail("tokenize", ids.status().message());
  std::printf("%s\n", ids_json(ids.value()).c_str());
  return 0;
}

int run_detokenize(const std::string& model, const std::string& ids_text, bool skip_special) {
  auto ids = parse_id_list(ids_text);
  if (!ids.ok()) return fail("detokenize", "--ids: " + ids.status().message());
  auto tok = Tokenizer::load(model);
  if (!tok.ok()) return fail("detokenize", tok.status().message());
  for (int32_t id : ids.value())
    if (!tok.value().valid_id(id))
      return fail("detokenize", "id " + std::to_string(id) + " is out of range [0, " +
                                    std::to_string(tok.value().n_vocab()) + ")");
  const std::string s = tok.value().decode(ids.value(), skip_special);
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
  return 0;
}

// messages file: [{"role": ..., "content": ... | null, "tool_calls": [{"type", "function":
// {"name", "arguments"}}]}] or {"messages": [...]}, as in OpenAI / transformers.
Result<std::vector<ChatMessage>> parse_messages(const std::string& path) {
  DSRT_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return Status::Error(path + ": not valid JSON");
  if (j.is_object() && j.contains("messages")) j = j["messages"];
  if (!j.is_array()) return Status::Error(path + ": expected an array of messages");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& m = j[i];
    const std::string where = path + ": messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return Status::Error(where + ": needs a string \"role\"");
    ChatMessage cm;
    cm.role = m["role"];
    if (m.contains("content") && m["content"].is_string())
      cm.content = m["content"].get<std::string>();
    else if (m.contains("content") && !m["content"].is_null())
      return Status::Error(where + ": \"content\" must be a string or null");
    if (m.contains("tool_calls") && m["tool_calls"].is_array()) {
      for (const auto& t : m["tool_calls"]) {
        if (!t.is_object() || !t.contains("function") || !t["function"].is_object() ||
            !t["function"].contains("name") || !t["function"]["name"].is_string())
          return Status::Error(where + ": tool_calls entries need function.name");
        ToolCall tc;
        tc.type = t.value("type", "function");
        tc.name = t["function"]["name"];
        const auto& a = t["function"].value("arguments", nlohmann::json("{}"));
        tc.arguments = a.is_string() ? a.get<std::string>() : a.dump();
        cm.tool_calls.push_back(std::move(tc));
      }
    }
    cm.prefix = m.value("prefix", false);
    out.push_back(std::move(cm));
  }
  return out;
}

int run_chat_render(const std::string& model, const std::string& messages_path,
                    const std::string& template_name, bool no_gen, bool thinking, bool ids) {
  auto msgs = parse_messages(messages_path);
  if (!msgs.ok()) return fail("chat-render", msgs.status().message());
  auto tok = Tokenizer::load(model);
  if (!tok.ok()) return fail("chat-render", tok.status().message());
  auto kind = template_name.empty() ? detect_chat_template(tok.value().chat_template())
                                    : chat_template_from_name(template_name);
  if (!kind.ok()) return fail("chat-render", kind.status().message());
  ChatOptions opts;
  opts.add_generation_prompt = !no_gen;
  opts.thinking = thinking;
  if (tok.value().bos_id() >= 0) opts.bos_token = tok.value().token_text(tok.value().bos_id());
  if (tok.value().eos_id() >= 0) opts.eos_token = tok.value().token_text(tok.value().eos_id());
  auto text = render_chat(kind.value(), msgs.value(), opts);
  if (!text.ok()) return fail("chat-render", text.status().message());
  if (ids) {
    auto enc = tok.value().encode(text.value(), false);
    if (!enc.ok()) return fail("chat-render", enc.status().message());
    std::printf("%s\n", ids_json(enc.value()).c_str());
  } else {
    std::fwrite(text.value().data(), 1, text.value().size(), stdout);
    std::fputc('\n', stdout);
  }
  return 0;
}

}  // namespace

DSRT_COMMAND(tokenize_cmd, "tokenize", "Encode text to token ids (printed as a JSON array)",
             [](CLI::App& app) -> std::function<int()> {
               auto model = std::make_shared<std::string>();
               auto text = std::make_shared<std::string>();
               auto file = std::make_shared<std::string>();
               auto add_bos = std::make_shared<bool>(false);
               auto no_special = std::make_shared<bool>(false);
               app.add_option("-m,--model", *model,
                              "Tokenizer or checkpoint folder, tokenizer.json or .gguf")
                   ->required();
               auto* t = app.add_option("--text", *text, "Text to encode");
               auto* f = app.add_option("--text-file", *file, "File whose contents to encode");
               t->excludes(f);
               f->excludes(t);
               app.add_flag("--add-bos", *add_bos, "Prepend the BOS token");
               app.add_flag("--no-special", *no_special,
                            "Treat special tokens in the text as plain text");
               return [=] {
                 if (t->count() == 0 && f->count() == 0)
                   return fail("tokenize", "one of --text or --text-file is required");
                 return run_tokenize(*model, *text, *file, *add_bos, *no_special);
               };
             });

DSRT_COMMAND(detokenize_cmd, "detokenize", "Decode token ids to text",
             [](CLI::App& app) -> std::function<int()> {
               auto model = std::make_shared<std::string>();
               auto ids = std::make_shared<std::string>();
               auto skip = std::make_shared<bool>(false);
               app.add_option("-m,--model", *model,
                              "Tokenizer or checkpoint folder, tokenizer.json or .gguf")
                   ->required();
               app.add_option("--ids", *ids, "Comma-separated token ids")->required();
               app.add_flag("--skip-special", *skip, "Leave special tokens out");
               return [=] { return run_detokenize(*model, *ids, *skip); };
             });

DSRT_COMMAND(chat_render_cmd, "chat-render",
             "Render a conversation (JSON messages) with the model's chat template",
             [](CLI::App& app) -> std::function<int()> {
               auto model = std::make_shared<std::string>();
               auto messages = std::make_shared<std::string>();
               auto tmpl = std::make_shared<std::string>();
               auto no_gen = std::make_shared<bool>(false);
               auto thinking = std::make_shared<bool>(false);
               auto ids = std::make_shared<bool>(false);
               app.add_option("-m,--model", *model,
                              "Tokenizer or checkpoint folder, tokenizer.json or .gguf")
                   ->required();
               app.add_option("--messages", *messages, "JSON file with the messages")->required();
               app.add_option("--template", *tmpl,
                              "Force a template: deepseek-v2, deepseek-v2.5, deepseek-v3, "
                              "deepseek-r1, deepseek-r1-distill, deepseek-v3.1");
               app.add_flag("--no-generation-prompt", *no_gen,
                            "Do not open an assistant turn at the end");
               app.add_flag("--thinking", *thinking, "V3.1: thinking mode");
               app.add_flag("--ids", *ids, "Print the token ids instead of the text");
               return [=] {
                 return run_chat_render(*model, *messages, *tmpl, *no_gen, *thinking, *ids);
               };
             });

}  // namespace dsrt::cli
