// The OpenAI-compatible request and response schemas, as pure functions on JSON text: no
// sockets, no model. parse_request() is what the fuzzer (fuzz/fuzz_request.cpp) drives; it
// must answer every input with a request or an ApiError, never crash or throw.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/sampler.h"
#include "tokenizer/chat_template.h"

namespace dsrt::server {

enum class Endpoint { kChat, kCompletion };

// An OpenAI-style error: {"error": {"message", "type", "param", "code"}} with an HTTP status.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the offending field, "" for none
  std::string code;   // "" for none
};

struct ApiRequest {
  Endpoint endpoint = Endpoint::kChat;
  std::string model;                  // "" when absent
  std::vector<ChatMessage> messages;  // chat
  std::string prompt;                 // completion, as text
  std::vector<int32_t> prompt_tokens;  // completion, as token ids (then prompt is empty)
  int max_tokens = 0;                 // 0 = not given
  SamplerParams sampling;             // OpenAI defaults: temperature 1, top_p 1
  std::vector<std::string> stop;
  bool stream = false, include_usage = false;
  bool logprobs = false;
  int top_logprobs = 0;
  bool ignore_eos = false;  // extension (vLLM spelling)
};

struct ParseLimits {
  std::string model_name;         // the served model; another name is 404 model_not_found
  int max_tokens_limit = 1 << 20;  // max_tokens above this is refused
  size_t max_stop = 4;
  int max_depth = 64;  // JSON nesting
};

using ParseResult = std::variant<ApiRequest, ApiError>;

// JSON body text -> a validated request, or the error to answer with.
ParseResult parse_request(Endpoint endpoint, std::string_view body, const ParseLimits& limits);

// Dumps JSON for the wire: invalid UTF-8 in strings becomes U+FFFD instead of throwing.
std::string dump(const nlohmann::json& j);

nlohmann::json error_json(const ApiError& e);

}  // namespace dsrt::server
