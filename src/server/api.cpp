#include "server/api.h"

#include <cmath>
#include <limits>

namespace dsrt::server {
namespace {

using nlohmann::json;

ApiError bad(std::string param, std::string msg, int status = 400, std::string code = "") {
  ApiError e;
  e.status = status;
  e.param = std::move(param);
  e.message = std::move(msg);
  e.code = std::move(code);
  return e;
}

// Nesting depth of the JSON text, counted outside strings; the parser's own recursion (and the
// destructor of a deep value) is kept away from hostile inputs by refusing deep bodies first.
int max_depth(std::string_view s) {
  int d = 0, best = 0;
  bool in_str = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_str) {
      if (c == '\\') ++i;
      else if (c == '"') in_str = false;
    } else if (c == '"') {
      in_str = true;
    } else if (c == '[' || c == '{') {
      best = std::max(best, ++d);
    } else if (c == ']' || c == '}') {
      --d;
    }
  }
  return best;
}

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::discarded: return "invalid";
    default: return "a number";
  }
}

// Field readers: absent or null leaves `out` alone; a wrong type or range is an error.
struct Reader {
  const json& obj;
  std::optional<ApiError> err;

  const json* get(const char* key) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }
  void fail(const char* key, const std::string& msg) {
    if (!err) err = bad(key, msg);
  }
  void boolean(const char* key, bool& out) {
    if (const json* v = get(key)) {
      if (!v->is_boolean()) return fail(key, std::string("'") + key + "' must be a boolean, not " + type_name(*v));
      out = v->get<bool>();
    }
  }
  void number(const char* key, float& out, double lo, double hi, bool lo_open = false) {
    if (const json* v = get(key)) {
      if (!v->is_number()) return fail(key, std::string("'") + key + "' must be a number, not " + type_name(*v));
      const double x = v->get<double>();
      if (!std::isfinite(x) || x < lo || x > hi || (lo_open && x == lo))
        return fail(key, std::string("'") + key + "' must be in " + (lo_open ? "(" : "[") + fmt(lo) + ", " +
                             fmt(hi) + "], got " + fmt(x));
      out = float(x);
    }
  }
  void integer(const char* key, int64_t& out, int64_t lo, int64_t hi) {
    if (const json* v = get(key)) {
      if (!v->is_number_integer())
        return fail(key, std::string("'") + key + "' must be an integer, not " + type_name(*v));
      if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
        return fail(key, std::string("'") + key + "' is out of range");
      const int64_t x = v->get<int64_t>();
      if (x < lo || x > hi)
        return fail(key, std::string("'") + key + "' must be in [" + std::to_string(lo) + ", " +
                             std::to_string(hi) + "], got " + std::to_string(x));
      out = x;
    }
  }
  static std::string fmt(double x) {
    char b[64];
    std::snprintf(b, sizeof b, "%g", x);
    return b;
  }
};

// Message content: a string, null, or an array of {"type": "text", "text": ...} parts.
std::optional<ApiError> read_content(const json& v, const std::string& where, std::optional<std::string>* out) {
  if (v.is_null()) {
    out->reset();
    return std::nullopt;
  }
  if (v.is_string()) {
    *out = v.get<std::string>();
    return std::nullopt;
  }
  if (!v.is_array()) return bad("messages", where + ".content must be a string or an array of text parts");
  std::string text;
  for (const json& part : v) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      return bad("messages", where + ".content parts must be objects with a 'type'");
    if (part["type"].get<std::string>() != "text")
      return bad("messages", where + ".content part type '" + part["type"].get<std::string>() +
                                 "' is not supported (only 'text')");
    if (!part.contains("text") || !part["text"].is_string())
      return bad("messages", where + ".content text part needs a string 'text'");
    text += part["text"].get<std::string>();
  }
  *out = text;
  return std::nullopt;
}

std::optional<ApiError> read_messages(const json& body, std::vector<ChatMessage>* out) {
  auto it = body.find("messages");
  if (it == body.end() || it->is_null()) return bad("messages", "'messages' is required", 400, "missing_required_parameter");
  if (!it->is_array()) return bad("messages", std::string("'messages' must be an array, not ") + type_name(*it));
  if (it->empty()) return bad("messages", "'messages' must not be empty");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return bad("messages", where + " must be an object");
    if (!m.contains("role") || !m["role"].is_string()) return bad("messages", where + ".role must be a string");
    ChatMessage cm;
    cm.role = m["role"].get<std::string>();
    if (cm.role == "developer") cm.role = "system";
    if (cm.role != "system" && cm.role != "user" && cm.role != "assistant" && cm.role != "tool")
      return bad("messages", where + ".role '" + cm.role + "' is not one of system, developer, user, assistant, tool");
    if (m.contains("content")) {
      if (auto e = read_content(m["content"], where, &cm.content)) return e;
    } else {
      cm.content.reset();
    }
    if (m.contains("tool_calls") && !m["tool_calls"].is_null()) {
      const json& tc = m["tool_calls"];
      if (cm.role != "assistant" || !tc.is_array()) return bad("messages", where + ".tool_calls must be an array on an assistant message");
      for (const json& c : tc) {
        if (!c.is_object() || !c.contains("function") || !c["function"].is_object())
          return bad("messages", where + ".tool_calls entries need a 'function' object");
        const json& f = c["function"];
        ToolCall t;
        if (!f.contains("name") || !f["name"].is_string()) return bad("messages", where + ".tool_calls function needs a string 'name'");
        t.name = f["name"].get<std::string>();
        if (f.contains("arguments")) {
          if (f["arguments"].is_string()) t.arguments = f["arguments"].get<std::string>();
          else t.arguments = dump(f["arguments"]);
        }
        cm.tool_calls.push_back(std::move(t));
      }
    }
    if (m.contains("tool_call_id") && m["tool_call_id"].is_string()) cm.tool_call_id = m["tool_call_id"].get<std::string>();
    if (m.contains("reasoning_content") && m["reasoning_content"].is_string())
      cm.reasoning_content = m["reasoning_content"].get<std::string>();
    if (!cm.content && cm.tool_calls.empty() && cm.role != "assistant")
      return bad("messages", where + ".content is required for role '" + cm.role + "'");
    out->push_back(std::move(cm));
  }
  return std::nullopt;
}

std::optional<ApiError> read_prompt(const json& body, ApiRequest* r) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) return bad("prompt", "'prompt' is required", 400, "missing_required_parameter");
  const json& p = *it;
  if (p.is_string()) {
    r->prompt = p.get<std::string>();
  } else if (p.is_array() && p.size() == 1 && p[0].is_string()) {
    r->prompt = p[0].get<std::string>();
  } else if (p.is_array() && !p.empty() && p[0].is_number_integer()) {
    for (const json& t : p) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > std::numeric_limits<int32_t>::max())
        return bad("prompt", "a token-id prompt must be an array of non-negative integers");
      r->prompt_tokens.push_back(int32_t(t.get<int64_t>()));
    }
  } else if (p.is_array() && p.size() > 1) {
    return bad("prompt", "only one prompt per request is supported");
  } else {
    return bad("prompt", std::string("'prompt' must be a string or an array of token ids, not ") + type_name(p));
  }
  if (r->prompt.empty() && r->prompt_tokens.empty()) return bad("prompt", "'prompt' must not be empty");
  return std::nullopt;
}

}  // namespace

std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

nlohmann::json error_json(const ApiError& e) {
  json err = {{"message", e.message}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty()) err["param"] = e.param;
  if (!e.code.empty()) err["code"] = e.code;
  return json{{"error", err}};
}

ParseResult parse_request(Endpoint endpoint, std::string_view body, const ParseLimits& lim) {
  if (max_depth(body) > lim.max_depth)
    return bad("", "the JSON body is nested deeper than " + std::to_string(lim.max_depth) + " levels");
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad("", "the body is not valid JSON", 400, "invalid_json");
  if (!j.is_object()) return bad("", std::string("the body must be a JSON object, not ") + type_name(j));
  try {
    ApiRequest r;
    r.endpoint = endpoint;
    if (j.contains("model") && !j["model"].is_null()) {
      if (!j["model"].is_string()) return bad("model", "'model' must be a string");
      r.model = j["model"].get<std::string>();
      if (!r.model.empty() && !lim.model_name.empty() && r.model != lim.model_name)
        return bad("model", "the model '" + r.model + "' does not exist; this server serves '" + lim.model_name + "'",
                   404, "model_not_found");
    }
    if (endpoint == Endpoint::kChat) {
      if (auto e = read_messages(j, &r.messages)) return *e;
    } else {
      if (auto e = read_prompt(j, &r)) return *e;
    }
    Reader rd{j, std::nullopt};
    int64_t n = 1, max_tokens = 0, mct = 0, top_k = 0, top_lp = 0, seed = 0, best_of = 1;
    rd.integer("n", n, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
    if (!rd.err && n != 1) return bad("n", "only n = 1 is supported, got " + std::to_string(n));
    rd.integer("best_of", best_of, 1, 1);
    rd.integer("max_tokens", max_tokens, 1, lim.max_tokens_limit);
    rd.integer("max_completion_tokens", mct, 1, lim.max_tokens_limit);
    r.max_tokens = int(mct > 0 ? mct : max_tokens);
    rd.number("temperature", r.sampling.temperature, 0, 2);
    rd.number("top_p", r.sampling.top_p, 0, 1, /*lo_open=*/true);
    rd.integer("top_k", top_k, -1, std::numeric_limits<int32_t>::max());
    r.sampling.top_k = top_k < 0 ? 0 : int(top_k);
    rd.number("min_p", r.sampling.min_p, 0, 1);
    rd.number("presence_penalty", r.sampling.presence_penalty, -2, 2);
    rd.number("frequency_penalty", r.sampling.frequency_penalty, -2, 2);
    rd.number("repetition_penalty", r.sampling.repetition_penalty, 0, 10, /*lo_open=*/true);
    if (const json* v = rd.get("seed")) {
      if (v->is_number_unsigned()) r.sampling.seed = v->get<uint64_t>();
      else {
        rd.integer("seed", seed, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
        r.sampling.seed = uint64_t(seed);
      }
    }
    rd.boolean("stream", r.stream);
    rd.boolean("ignore_eos", r.ignore_eos);
    if (rd.err) return *rd.err;
    if (const json* so = rd.get("stream_options")) {
      if (!so->is_object()) return bad("stream_options", "'stream_options' must be an object");
      if (!r.stream) return bad("stream_options", "'stream_options' is only allowed with stream: true");
      Reader sr{*so, std::nullopt};
      sr.boolean("include_usage", r.include_usage);
      if (sr.err) return bad("stream_options", sr.err->message);
    }
    if (const json* st = rd.get("stop")) {
      if (st->is_string()) r.stop.push_back(st->get<std::string>());
      else if (st->is_array()) {
        for (const json& s : *st) {
          if (!s.is_string()) return bad("stop", "'stop' entries must be strings");
          r.stop.push_back(s.get<std::string>());
        }
      } else {
        return bad("stop", "'stop' must be a string or an array of strings");
      }
      if (r.stop.size() > lim.max_stop) return bad("stop", "at most " + std::to_string(lim.max_stop) + " stop strings");
      for (auto& s : r.stop)
        if (s.empty()) return bad("stop", "stop strings must not be empty");
    }
    // logprobs: a boolean (+ top_logprobs) in chat, an integer count in completions.
    if (endpoint == Endpoint::kChat) {
      rd.boolean("logprobs", r.logprobs);
      rd.integer("top_logprobs", top_lp, 0, 20);
      if (rd.err) return *rd.err;
      if (top_lp > 0 && !r.logprobs) return bad("top_logprobs", "'top_logprobs' needs logprobs: true");
    } else {
      rd.integer("logprobs", top_lp, 0, 20);
      if (rd.err) return *rd.err;
      r.logprobs = rd.get("logprobs") != nullptr;
    }
    r.top_logprobs = int(top_lp);
    r.sampling.n_logprobs = r.top_logprobs;
    if (const json* lb = rd.get("logit_bias")) {
      if (!lb->is_object()) return bad("logit_bias", "'logit_bias' must be an object of token id -> bias");
      for (auto it = lb->begin(); it != lb->end(); ++it) {
        const std::string& k = it.key();
        char* end = nullptr;
        const long id = std::strtol(k.c_str(), &end, 10);
        if (k.empty() || *end != '\0' || id < 0 || id > std::numeric_limits<int32_t>::max())
          return bad("logit_bias", "'logit_bias' keys must be token ids, got '" + k + "'");
        if (!it.value().is_number() || !std::isfinite(it.value().get<double>()) ||
            std::fabs(it.value().get<double>()) > 100)
          return bad("logit_bias", "'logit_bias' values must be numbers in [-100, 100]");
        r.sampling.logit_bias.push_back({int32_t(id), float(it.value().get<double>())});
      }
    }
    // Known OpenAI parameters this server does not implement are refused rather than ignored.
    for (const char* k : {"tools", "functions", "tool_choice", "function_call", "audio", "modalities", "prediction"})
      if (const json* v = rd.get(k))
        if (!(v->is_array() && v->empty()) && !(v->is_string() && v->get<std::string>() == "none"))
          return bad(k, std::string("'") + k + "' is not supported by this server");
    if (const json* v = rd.get("echo"))
      if (!v->is_boolean() || v->get<bool>()) return bad("echo", "'echo' is not supported");
    if (const json* v = rd.get("suffix"))
      if (!v->is_string() || !v->get<std::string>().empty()) return bad("suffix", "'suffix' is not supported");
    if (const json* v = rd.get("response_format")) {
      if (!v->is_object() || !v->contains("type") || !(*v)["type"].is_string() ||
          (*v)["type"].get<std::string>() != "text")
        return bad("response_format", "only response_format {\"type\": \"text\"} is supported");
    }
    r.sampling.penalty_last_n = (r.sampling.presence_penalty != 0 || r.sampling.frequency_penalty != 0) ? -1 : 64;
    return r;
  } catch (const std::exception& e) {
    // The readers check types first; this is a last line of defence for the fuzzer.
    return bad("", std::string("bad request: ") + e.what());
  }
}

}  // namespace dsrt::server
