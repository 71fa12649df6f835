#include "runtime/scheduler.h"

#include <algorithm>
#include <optional>

#include "core/log.h"
#include "runtime/stop.h"

namespace dsrt {

using Clock = std::chrono::steady_clock;

Result<BatchingMode> batching_mode_from_name(std::string_view name) {
  if (name == "continuous") return BatchingMode::kContinuous;
  if (name == "off") return BatchingMode::kOff;
  if (name == "static") return BatchingMode::kStatic;
  return Status::Error("unknown batching mode '" + std::string(name) + "' (continuous, static, off)");
}

const char* batching_mode_name(BatchingMode m) {
  switch (m) {
    case BatchingMode::kContinuous: return "continuous";
    case BatchingMode::kOff: return "off";
    case BatchingMode::kStatic: return "static";
  }
  return "?";
}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds.size() && v > bounds[i]) ++i;
  ++counts[i];
  sum += v;
  ++count;
}

void RequestStream::push(StreamEvent ev) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    q_.push_back(std::move(ev));
  }
  cv_.notify_all();
}

bool RequestStream::next(StreamEvent* ev, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  if (!cv_.wait_for(lk, timeout, [&] { return !q_.empty(); })) return false;
  *ev = std::move(q_.front());
  q_.pop_front();
  // Merge what else is queued, so a slow reader catches up in one write.
  while (!ev->done && !q_.empty()) {
    StreamEvent& n = q_.front();
    ev->text += n.text;
    for (auto& t : n.tokens) ev->tokens.push_back(std::move(t));
    if (n.done) {
      ev->done = true;
      ev->finish_reason = n.finish_reason;
      ev->error = n.error;
      ev->n_prompt = n.n_prompt;
      ev->n_generated = n.n_generated;
    }
    q_.pop_front();
  }
  return true;
}

// A request inside the engine. tokens = prompt + generated; cache->n_past() of them are in the
// KV cache. tokens.size() - n_past == 1 is a decode step; more is (re)prefill still to do.
struct Scheduler::Seq {
  uint64_t id = 0;
  std::shared_ptr<RequestStream> io;
  GenRequest req;
  std::vector<int32_t> tokens;
  int n_prompt = 0;
  int32_t max_pos = 0;  // positions the cache may hold
  std::unique_ptr<KvCache> cache;
  std::optional<Sampler> sampler;
  std::optional<StopChecker> stop;
  std::optional<StreamDecoder> dec;
  int n_generated = 0;
  Clock::time_point t_submit, t_last;
  bool counted_prompt = false;
  int32_t n_past() const { return cache ? cache->n_past() : 0; }
};

Scheduler::Scheduler(Model& model, const Tokenizer& tok, SchedulerOptions opt, std::unique_ptr<KvPool> pool)
    : model_(model), tok_(tok), opt_(opt), pool_(std::move(pool)) {
  eos_ids_ = tok.eos_ids();
  for (int e : model.config().eos_token_ids)
    if (std::find(eos_ids_.begin(), eos_ids_.end(), e) == eos_ids_.end()) eos_ids_.push_back(e);
  if (opt_.prefix_cache) pool_->enable_prefix_cache();
  metrics_.kv_blocks_total = pool_->n_blocks();
  metrics_.kv_block_size = pool_->block_size();
  engine_ = std::thread([this] { engine_loop(); });
}

Result<std::unique_ptr<Scheduler>> Scheduler::create(Model& model, const Tokenizer& tok, SchedulerOptions o) {
  if (o.parallel < 1) return Status::Error("--parallel must be >= 1");
  if (o.mode == BatchingMode::kOff) o.parallel = 1;
  if (o.n_ctx < 2) return Status::Error("--ctx-size must be >= 2");
  if (o.block_size < 1) return Status::Error("--block-size must be >= 1");
  if (o.max_queue < 0) return Status::Error("--max-queue must be >= 0");
  if (o.max_batch_tokens < o.parallel)
    return Status::Error("--max-batch-tokens (" + std::to_string(o.max_batch_tokens) +
                         ") must be at least --parallel (" + std::to_string(o.parallel) +
                         ") so every running sequence can decode in one step");
  if (o.kv_blocks == 0) {
    const int64_t n = (int64_t(o.parallel) * o.n_ctx + o.block_size - 1) / o.block_size;
    if (n > (int64_t(1) << 30)) return Status::Error("KV pool too large; give --kv-blocks");
    o.kv_blocks = int32_t(n);
  }
  if (o.kv_blocks < 1) return Status::Error("--kv-blocks must be >= 1");
  auto pool = model.new_kv_pool(o.kv_blocks, o.block_size);
  if (!pool.ok()) return pool.status().with_context("creating the KV pool");
  return std::unique_ptr<Scheduler>(new Scheduler(model, tok, o, std::move(pool).value()));
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (engine_.joinable()) engine_.join();
  for (auto& s : running_) finish(*s, "cancelled");
  for (auto& s : preempted_) finish(*s, "cancelled");
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& s : waiting_) finish(*s, "cancelled");
}

SubmitResult Scheduler::submit(GenRequest req) {
  SubmitResult r;
  auto bad = [&](SubmitError e, std::string m) {
    r.error = e;
    r.message = std::move(m);
    return r;
  };
  const int64_t n = int64_t(req.prompt.size());
  if (n == 0) return bad(SubmitError::kBadParams, "the prompt is empty");
  if (n >= opt_.n_ctx)
    return bad(SubmitError::kTooLong, "the prompt has " + std::to_string(n) +
                                          " tokens; the context holds " + std::to_string(opt_.n_ctx) +
                                          " (prompt + at least one generated token)");
  const int64_t bs = pool_->block_size();
  if ((n + 1 + bs - 1) / bs > pool_->n_blocks())
    return bad(SubmitError::kTooLong, "the prompt has " + std::to_string(n) + " tokens; the KV pool holds " +
                                          std::to_string(int64_t(pool_->n_blocks()) * bs));
  for (int32_t t : req.prompt)
    if (t < 0 || t >= model_.config().vocab_size)
      return bad(SubmitError::kBadParams, "token id " + std::to_string(t) + " is outside the vocabulary");
  auto seq = std::make_unique<Seq>();
  // max_tokens 0 or beyond the context means "until the context is full".
  const int room = int(opt_.n_ctx - n);
  GenerateParams& p = req.params;
  if (p.max_tokens <= 0 || p.max_tokens > room) p.max_tokens = room;
  auto sampler = Sampler::create(p.sampling, model_.config().vocab_size);
  if (!sampler.ok()) return bad(SubmitError::kBadParams, sampler.status().message());
  StopParams sp;
  if (!p.ignore_eos) sp.eos_ids = eos_ids_;
  sp.max_tokens = p.max_tokens;
  sp.stop_strings = p.stop_strings;
  auto stop = StopChecker::create(sp);
  if (!stop.ok()) return bad(SubmitError::kBadParams, stop.status().message());
  seq->sampler.emplace(std::move(sampler).value());
  for (int32_t t : req.prompt) seq->sampler->accept(t);  // penalties see the prompt, as generate() does
  seq->stop.emplace(std::move(stop).value());
  seq->dec.emplace(tok_);
  seq->tokens = req.prompt;
  seq->n_prompt = int(n);
  seq->max_pos = int32_t(n + p.max_tokens);
  seq->t_submit = Clock::now();
  seq->io = std::make_shared<RequestStream>();
  seq->req = std::move(req);
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stop_) return bad(SubmitError::kStopped, "the server is shutting down");
    if (int(waiting_.size()) >= opt_.max_queue) {
      ++metrics_.requests_rejected_queue_full;
      return bad(SubmitError::kQueueFull, "the request queue is full (" + std::to_string(opt_.max_queue) +
                                              " waiting); retry later");
    }
    seq->id = next_id_++;
    r.stream = seq->io;
    waiting_.push_back(std::move(seq));
  }
  cv_.notify_all();
  return r;
}

SchedulerMetrics Scheduler::metrics() const {
  std::lock_guard<std::mutex> lk(mu_);
  SchedulerMetrics m = metrics_;
  m.queue_depth = int(waiting_.size());
  m.kv_blocks_free = pool_->n_free();
  m.kv_blocks_cached = pool_->n_cached();
  m.prefix_hit_tokens = pool_->prefix_hit_tokens();
  return m;
}

void Scheduler::engine_loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !waiting_.empty() || !running_.empty() || !preempted_.empty(); });
      if (stop_) return;
    }
    if (!step()) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // waiting for blocks/peers
  }
}

void Scheduler::finish(Seq& s, const std::string& reason, const std::string& error) {
  StreamEvent ev;
  ev.done = true;
  ev.n_prompt = s.n_prompt;
  ev.n_generated = s.n_generated;
  if (reason == "eos" || reason == "stop" || reason == "length" || reason == "context") {
    StopResult fin = s.stop->finish();
    ev.text = fin.text_to_emit;
    if (reason != "stop") ev.text += s.dec->flush();
    ev.finish_reason = (reason == "length" || reason == "context") ? "length" : "stop";
  } else {
    ev.finish_reason = reason;
    ev.error = error;
  }
  s.cache.reset();  // the blocks go back to the pool here
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (ev.finish_reason == "stop" || ev.finish_reason == "length") ++metrics_.requests_finished;
    else if (reason == "cancelled") ++metrics_.requests_cancelled;
    else if (reason == "timeout") ++metrics_.requests_timeout;
    else ++metrics_.requests_error;
  }
  s.io->push(std::move(ev));
}

void Scheduler::emit_token(Seq& s, const SampleInfo& info) {
  const int32_t id = info.token;
  s.sampler->accept(id);
  s.tokens.push_back(id);
  ++s.n_generated;
  const auto now = Clock::now();
  {
    std::lock_guard<std::mutex> lk(mu_);
    ++metrics_.generated_tokens;
    if (s.n_generated == 1) metrics_.ttft.observe(std::chrono::duration<double>(now - s.t_submit).count());
    else metrics_.tpot.observe(std::chrono::duration<double>(now - s.t_last).count());
  }
  s.t_last = now;
  const std::string piece = tok_.is_eos(id) ? std::string() : s.dec->push(id);
  StopResult r = s.stop->feed(id, piece);
  StreamEvent ev;
  ev.text = std::move(r.text_to_emit);
  TokenOut t;
  t.token = id;
  if (s.req.want_logprobs) {
    t.logprob = info.logprob;
    t.top = info.top_logprobs;
  }
  ev.tokens.push_back(std::move(t));
  s.io->push(std::move(ev));
  if (r.stopped) finish(s, r.reason);
}

void Scheduler::preempt(size_t idx) {
  std::unique_ptr<Seq> s = std::move(running_[idx]);
  running_.erase(running_.begin() + std::ptrdiff_t(idx));
  s->cache.reset();  // its tokens are recomputed when it is admitted again
  {
    std::lock_guard<std::mutex> lk(mu_);
    ++metrics_.preemptions;
  }
  log_info("scheduler: preempted request " + std::to_string(s->id) + " (" + std::to_string(s->tokens.size()) +
           " tokens) for KV blocks");
  preempted_.push_front(std::move(s));
}

void Scheduler::admit() {
  const int cap = opt_.parallel;
  const int32_t bs = pool_->block_size();
  auto blocks_for = [&](const Seq& s) { return int32_t((int64_t(s.tokens.size()) + 1 + bs - 1) / bs); };
  // Takes the prompt's blocks for `s`; false (and s untouched) when the pool cannot spare them.
  // Continuous batching keeps one free block per running sequence so that decoding seldom has
  // to preempt.
  auto try_start = [&](Seq& s) {
    // Prompt blocks that running sequences hold already are attached, not taken from the pool.
    const int32_t need = blocks_for(s) - pool_->live_prefix_blocks(s.tokens, s.max_pos);
    const int32_t headroom = opt_.mode == BatchingMode::kContinuous ? int32_t(running_.size()) : 0;
    if (pool_->n_free() - need < headroom) return false;
    auto c = pool_->new_sequence(s.max_pos);
    if (!c.ok()) return false;
    c.value()->attach_prefix(s.tokens);  // prompt positions already cached (prefix caching)
    if (!c.value()->reserve(int32_t(s.tokens.size()) + 1).ok()) return false;
    s.cache = std::move(c).value();
    return true;
  };
  while (!preempted_.empty() && int(running_.size()) < cap && try_start(*preempted_.front())) {
    running_.push_back(std::move(preempted_.front()));
    preempted_.pop_front();
  }
  if (!preempted_.empty()) return;  // they go first
  if (opt_.mode == BatchingMode::kStatic) {
    if (!running_.empty() && !static_batch_open_) return;
    if (running_.empty()) static_batch_open_ = true;
  }
  std::lock_guard<std::mutex> lk(mu_);
  if (opt_.mode == BatchingMode::kStatic && running_.empty() && int(waiting_.size()) < cap &&
      !waiting_.empty() &&
      std::chrono::duration<double>(Clock::now() - waiting_.front()->t_submit).count() < opt_.static_gather_s)
    return;  // let the batch fill a little
  while (!waiting_.empty() && int(running_.size()) < cap && try_start(*waiting_.front())) {
    Seq& s = *waiting_.front();
    if (!s.counted_prompt) {
      metrics_.prompt_tokens += uint64_t(s.n_prompt);
      s.counted_prompt = true;
    }
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  if (opt_.mode == BatchingMode::kStatic && !running_.empty()) static_batch_open_ = false;
}

// Every decoding sequence needs storage for one more position; when the pool is dry, the most
// recently admitted sequence gives its blocks up (possibly the one asking).
bool Scheduler::ensure_decode_blocks() {
  for (size_t i = 0; i < running_.size();) {
    Seq& s = *running_[i];
    if (s.tokens.size() - size_t(s.n_past()) != 1) {
      ++i;
      continue;
    }
    if (s.cache->reserve(s.n_past() + 1).ok()) {
      ++i;
      continue;
    }
    const size_t victim = running_.size() - 1;
    preempt(victim);
    if (victim == i) break;  // it was the youngest itself; the others are done too
  }
  return true;
}

bool Scheduler::step() {
  const auto now = Clock::now();
  auto expired = [&](const Seq& s) {
    return opt_.timeout_s > 0 && std::chrono::duration<double>(now - s.t_submit).count() > opt_.timeout_s;
  };
  // Requests whose client left or whose time ran out end here, wherever they are.
  auto sweep = [&](auto& list) {
    for (size_t i = 0; i < list.size();) {
      Seq& s = *list[i];
      if (s.io->cancelled() || expired(s)) {
        finish(s, s.io->cancelled() ? "cancelled" : "timeout", s.io->cancelled() ? "" : "request timed out");
        list.erase(list.begin() + std::ptrdiff_t(i));
      } else {
        ++i;
      }
    }
  };
  {
    std::lock_guard<std::mutex> lk(mu_);
    std::deque<std::unique_ptr<Seq>> w = std::move(waiting_);
    waiting_.clear();
    mu_.unlock();
    sweep(w);
    mu_.lock();
    // Submissions that arrived meanwhile go after the ones already waiting.
    for (auto& s : waiting_) w.push_back(std::move(s));
    waiting_ = std::move(w);
  }
  sweep(running_);
  sweep(preempted_);
  admit();
  ensure_decode_blocks();
  {
    std::lock_guard<std::mutex> lk(mu_);
    metrics_.running = int(running_.size());
  }
  if (running_.empty()) return false;

  // The batch: every decode token first, then prefill chunks in admission order.
  struct Item {
    Seq* s;
    int32_t n;
  };
  std::vector<Item> plan;
  int budget = opt_.max_batch_tokens;
  for (auto& s : running_)
    if (s->tokens.size() - size_t(s->n_past()) == 1) {
      plan.push_back({s.get(), 1});
      --budget;
    }
  for (auto& s : running_) {
    const int32_t rem = int32_t(s->tokens.size()) - s->n_past();
    if (rem > 1 && budget > 0) {
      const int32_t n = std::min(rem, int32_t(budget));
      plan.push_back({s.get(), n});
      budget -= n;
    }
  }
  if (plan.empty()) return false;
  std::vector<SeqInput> batch;
  int n_tokens = 0;
  for (const Item& it : plan) {
    batch.push_back({it.s->cache.get(),
                     std::span<const int32_t>(it.s->tokens.data() + it.s->n_past(), size_t(it.n)), false});
    n_tokens += it.n;
  }
  auto logits = model_.forward(batch);
  {
    std::lock_guard<std::mutex> lk(mu_);
    ++metrics_.steps;
    metrics_.last_batch_tokens = n_tokens;
    metrics_.last_batch_seqs = int(plan.size());
    metrics_.batch_tokens.observe(n_tokens);
  }
  std::vector<Seq*> done;
  if (!logits.ok()) {
    log_error("scheduler: forward failed: " + logits.status().message());
    for (const Item& it : plan) {
      finish(*it.s, "error", logits.status().message());
      done.push_back(it.s);
    }
  } else {
    const int64_t vocab = logits.value().dim(1);
    for (size_t i = 0; i < plan.size(); ++i) {
      Seq& s = *plan[i].s;
      if (size_t(s.n_past()) != s.tokens.size()) continue;  // prefill continues next step
      SampleInfo info;
      const float* row = logits.value().f32() + int64_t(i) * vocab;
      info.token = s.sampler->sample(row, s.req.want_logprobs ? &info : nullptr);
      emit_token(s, info);
      if (!s.cache) done.push_back(&s);  // finished
    }
  }
  // Full blocks written this step become reusable by later requests with the same prefix
  // (finished sequences have already released their cache).
  for (const Item& it : plan)
    if (it.s->cache) it.s->cache->publish_prefix(it.s->tokens);
  if (!done.empty())
    running_.erase(std::remove_if(running_.begin(), running_.end(),
                                  [&](const auto& p) { return std::find(done.begin(), done.end(), p.get()) != done.end(); }),
                   running_.end());
  {
    std::lock_guard<std::mutex> lk(mu_);
    metrics_.running = int(running_.size());
  }
  return true;
}

}  // namespace dsrt
