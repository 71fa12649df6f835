#include "runtime/generate.h"

#include <chrono>

namespace dsrt {

Result<Session> new_session(const Model& model, int32_t n_ctx) {
  Session s;
  DSRT_ASSIGN_OR_RETURN(s.cache, model.new_cache(n_ctx));
  return s;
}

Result<GenerateStats> generate(Model& model, const Tokenizer& tok, Session& s,
                               const std::vector<int32_t>& prompt, const GenerateParams& p,
                               const std::function<bool(std::string_view)>& on_text,
                               const std::atomic<bool>* cancel) {
  using Clock = std::chrono::steady_clock;
  GenerateStats st;
  if (prompt.empty()) return Status::Error("the prompt is empty");
  const int32_t n_ctx = s.cache->n_ctx();
  // Reuse the longest cached prefix, but always run at least the last prompt token.
  size_t keep = 0;
  while (keep < s.tokens.size() && keep + 1 < prompt.size() && s.tokens[keep] == prompt[keep]) ++keep;
  if (int64_t(prompt.size()) >= n_ctx)
    return Status::Error("the prompt has " + std::to_string(prompt.size()) +
                         " tokens; the context holds " + std::to_string(n_ctx));
  s.cache->truncate(int32_t(keep));
  s.tokens.resize(keep);
  st.n_reused = int(keep);
  st.n_prompt = int(prompt.size() - keep);

  DSRT_ASSIGN_OR_RETURN(Sampler sampler, Sampler::create(p.sampling, model.config().vocab_size));
  for (int32_t t : prompt) sampler.accept(t);  // penalties see the prompt, as llama.cpp does
  StopParams sp;
  if (!p.ignore_eos) sp.eos_ids = tok.eos_ids();
  for (int e : model.config().eos_token_ids)
    if (!p.ignore_eos && std::find(sp.eos_ids.begin(), sp.eos_ids.end(), e) == sp.eos_ids.end())
      sp.eos_ids.push_back(e);
  sp.max_tokens = p.max_tokens;
  sp.stop_strings = p.stop_strings;
  DSRT_ASSIGN_OR_RETURN(StopChecker stop, StopChecker::create(sp));
  StreamDecoder dec(tok);

  auto t0 = Clock::now();
  std::span<const int32_t> todo(prompt.data() + keep, prompt.size() - keep);
  DSRT_ASSIGN_OR_RETURN(Tensor logits, model.forward({{s.cache.get(), todo, false}}));
  s.tokens.insert(s.tokens.end(), todo.begin(), todo.end());
  auto t1 = Clock::now();
  st.prefill_s = std::chrono::duration<double>(t1 - t0).count();

  for (;;) {
    if (cancel && cancel->load()) {
      st.finish_reason = "cancelled";
      break;
    }
    const int32_t id = sampler.sample(logits.f32());
    sampler.accept(id);
    ++st.n_generated;
    const std::string piece = tok.is_eos(id) ? std::string() : dec.push(id);
    StopResult r = stop.feed(id, piece);
    if (!r.text_to_emit.empty() && !on_text(r.text_to_emit)) {
      st.finish_reason = "cancelled";
      break;
    }
    if (r.stopped) {
      st.finish_reason = r.reason;
      break;
    }
    if (s.cache->n_past() + 1 >= n_ctx) {
      st.finish_reason = "context";
      break;
    }
    DSRT_ASSIGN_OR_RETURN(logits, model.forward({{s.cache.get(), std::span<const int32_t>(&id, 1), false}}));
    s.tokens.push_back(id);
  }
  StopResult fin = stop.finish();
  std::string tail = fin.text_to_emit;
  if (st.finish_reason != "stop") tail += dec.flush();
  if (!tail.empty()) on_text(tail);
  st.decode_s = std::chrono::duration<double>(Clock::now() - t1).count();
  return st;
}

}  // namespace dsrt
