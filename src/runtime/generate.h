// Text generation on one sequence: prefill a prompt, then sample token by token through the
// KV cache, streaming finished text. Shared by `dsrt run`, `dsrt chat` and the server.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "models/model.h"
#include "runtime/sampler.h"
#include "runtime/stop.h"
#include "tokenizer/tokenizer.h"

namespace dsrt {

struct GenerateParams {
  SamplerParams sampling;
  int max_tokens = 256;                   // 0 = until EOS or the context is full
  std::vector<std::string> stop_strings;
  bool ignore_eos = false;
};

struct GenerateStats {
  int n_prompt = 0;      // tokens prefilled this call (after any reused cache prefix)
  int n_reused = 0;      // prompt tokens already in the cache
  int n_generated = 0;
  double prefill_s = 0, decode_s = 0;
  std::string finish_reason;  // "stop" | "length" | "eos" | "cancelled" | "context"
  double prefill_tps() const { return prefill_s > 0 ? n_prompt / prefill_s : 0; }
  double decode_tps() const { return decode_s > 0 ? n_generated / decode_s : 0; }
};

// A sequence: its cache and the tokens it holds, so a later prompt that extends them (a chat
// turn) prefills only the new part.
struct Session {
  std::unique_ptr<KvCache> cache;
  std::vector<int32_t> tokens;
};

Result<Session> new_session(const Model& model, int32_t n_ctx);

// `on_text` receives finished text pieces; returning false stops generation ("cancelled").
// `cancel` (optional) is polled between tokens (Ctrl-C).
Result<GenerateStats> generate(Model& model, const Tokenizer& tok, Session& session,
                               const std::vector<int32_t>& prompt, const GenerateParams& params,
                               const std::function<bool(std::string_view)>& on_text,
                               const std::atomic<bool>* cancel = nullptr);

}  // namespace dsrt
