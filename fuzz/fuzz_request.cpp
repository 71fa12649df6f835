// libFuzzer target for the request parser: any bytes, as either endpoint's body, must give a
// request or an error object (never a crash, a hang or an exception), and the error must
// serialize to valid JSON with a 4xx status.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "server/api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dsrt::server;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  ParseLimits lim;
  lim.model_name = "dsrt-demo";
  lim.max_tokens_limit = 4096;
  for (Endpoint ep : {Endpoint::kChat, Endpoint::kCompletion}) {
    ParseResult r = parse_request(ep, body, lim);
    if (auto* e = std::get_if<ApiError>(&r)) {
      if (e->status < 400 || e->status >= 500 || e->message.empty()) std::abort();
      const std::string out = dump(error_json(*e));
      if (nlohmann::json::parse(out, nullptr, false).is_discarded()) std::abort();
    } else {
      const ApiRequest& q = std::get<ApiRequest>(r);
      if (q.max_tokens < 0 || q.max_tokens > lim.max_tokens_limit) std::abort();
      if (ep == Endpoint::kChat && q.messages.empty()) std::abort();
      if (ep == Endpoint::kCompletion && q.prompt.empty() && q.prompt_tokens.empty()) std::abort();
    }
  }
  return 0;
}
