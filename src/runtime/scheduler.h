// Continuous-batching scheduler: one engine thread owns the model and runs many generation
// requests at once. Requests join and leave the running batch at token boundaries; every step
// is one Model::forward() over the decode token of each running sequence plus chunks of
// pending prefills, under a token budget, so a long prompt does not stall the others (chunked
// prefill, as in Sarathi-Serve / vLLM's scheduler).
//
// KV memory comes from one paged KvPool. A request is admitted only when the pool can hold its
// whole prompt (it waits in the queue otherwise, first come first served); a running sequence
// that cannot get a block for its next token preempts the most recently admitted sequence,
// which drops its blocks and later recomputes its tokens (vLLM's "recompute" preemption).
// Blocks go back to the pool whenever a sequence ends: finished, cancelled by its client,
// timed out or failed.
//
// Threads: submit() and the RequestStream methods are called from any thread (HTTP handlers);
// everything else, the model included, is touched only by the engine thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "models/model.h"
#include "runtime/generate.h"
#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"

namespace dsrt {

enum class BatchingMode {
  kContinuous,  // sequences join and leave the batch at every token
  kOff,         // one sequence at a time
  kStatic,      // batches of up to `parallel` start together and end with their slowest member
};
Result<BatchingMode> batching_mode_from_name(std::string_view name);
const char* batching_mode_name(BatchingMode m);

struct SchedulerOptions {
  BatchingMode mode = BatchingMode::kContinuous;
  int parallel = 8;            // most sequences running at once
  int max_batch_tokens = 512;  // most tokens in one forward() (decode + prefill chunks)
  int max_queue = 64;          // most requests waiting for admission; more are refused
  int32_t n_ctx = 4096;        // most positions (prompt + generated) of one sequence
  int32_t kv_blocks = 0;       // blocks in the KV pool; 0 = parallel * n_ctx worth
  int32_t block_size = 16;     // tokens per KV block
  double timeout_s = 0;        // per request, from submission; 0 = none
  bool prefix_cache = true;    // reuse the KV blocks of identical prompt prefixes
  // Static mode: how long an empty engine waits for a batch to fill before starting it.
  double static_gather_s = 0.02;
};

// What one request asks of the engine: token ids in, generation parameters.
struct GenRequest {
  std::vector<int32_t> prompt;
  GenerateParams params;  // sampling (incl. n_logprobs), max_tokens (0 = to the context end), stops
  bool want_logprobs = false;
};

struct TokenOut {
  int32_t token = -1;
  float logprob = 0;
  std::vector<TokenLogprob> top;
};

// One thing the engine tells a request's owner. Text pieces are final (held back across stop
// strings and UTF-8 boundaries); `done` comes exactly once, last.
struct StreamEvent {
  std::string text;
  std::vector<TokenOut> tokens;  // the tokens sampled since the last event (with logprobs if asked)
  bool done = false;
  // When done: "stop" (EOS or a stop string), "length" (max_tokens or context), "cancelled",
  // "timeout" or "error" (then `error` says why).
  std::string finish_reason;
  std::string error;
  int n_prompt = 0, n_generated = 0;
};

// The channel between the engine and one request's owner.
class RequestStream {
 public:
  // Waits up to `timeout` for the next event; false on timeout. Several queued text events are
  // merged into one.
  bool next(StreamEvent* ev, std::chrono::milliseconds timeout);
  // Asks the engine to stop this request (client gone); its blocks are freed at the next step.
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

 private:
  friend class Scheduler;
  void push(StreamEvent ev);
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamEvent> q_;
  std::atomic<bool> cancelled_{false};
};

enum class SubmitError { kNone, kQueueFull, kTooLong, kBadParams, kStopped };
struct SubmitResult {
  std::shared_ptr<RequestStream> stream;
  SubmitError error = SubmitError::kNone;
  std::string message;
};

// Upper bounds of the latency histograms, seconds (Prometheus buckets, +Inf implied).
inline constexpr double kTtftBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
inline constexpr double kTpotBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

struct Histogram {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;  // per bucket (not cumulative), last = +Inf
  double sum = 0;
  uint64_t count = 0;
  void observe(double v);
};

struct SchedulerMetrics {
  uint64_t requests_finished = 0, requests_cancelled = 0, requests_timeout = 0, requests_error = 0;
  uint64_t requests_rejected_queue_full = 0, preemptions = 0;
  uint64_t prompt_tokens = 0, generated_tokens = 0, steps = 0;
  int queue_depth = 0, running = 0;
  int last_batch_tokens = 0, last_batch_seqs = 0;
  int32_t kv_blocks_total = 0, kv_blocks_free = 0, kv_block_size = 0;
  int32_t kv_blocks_cached = 0;    // free blocks that still hold a cached prefix
  uint64_t prefix_hit_tokens = 0;  // prompt positions taken from the prefix cache
  Histogram ttft{{std::begin(kTtftBuckets), std::end(kTtftBuckets)}, std::vector<uint64_t>(14)};
  Histogram tpot{{std::begin(kTpotBuckets), std::end(kTpotBuckets)}, std::vector<uint64_t>(12)};
  Histogram batch_tokens{{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048}, std::vector<uint64_t>(13)};
};

class Scheduler {
 public:
  // The model and tokenizer must outlive the scheduler. Starts the engine thread.
  static Result<std::unique_ptr<Scheduler>> create(Model& model, const Tokenizer& tok,
                                                   SchedulerOptions opt);
  ~Scheduler();  // cancels everything and joins the engine thread

  // Queues a request; never blocks on the model. Fails at once when the queue is full, the
  // prompt cannot fit the context or the KV pool, or the sampling parameters are invalid.
  SubmitResult submit(GenRequest req);

  SchedulerMetrics metrics() const;
  const SchedulerOptions& options() const { return opt_; }

 private:
  struct Seq;
  Scheduler(Model& model, const Tokenizer& tok, SchedulerOptions opt, std::unique_ptr<KvPool> pool);
  void engine_loop();
  // One engine step; returns false when there was nothing to do.
  bool step();
  void admit();
  bool ensure_decode_blocks();
  void preempt(size_t idx);
  void finish(Seq& s, const std::string& reason, const std::string& error = "");
  void emit_token(Seq& s, const SampleInfo& info);

  Model& model_;
  const Tokenizer& tok_;
  SchedulerOptions opt_;
  std::unique_ptr<KvPool> pool_;
  std::vector<int32_t> eos_ids_;

  mutable std::mutex mu_;  // guards waiting_, stop_ and metrics_
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Seq>> waiting_;
  bool stop_ = false;
  SchedulerMetrics metrics_;
  uint64_t next_id_ = 0;

  // Engine thread only.
  std::vector<std::unique_ptr<Seq>> running_;
  std::deque<std::unique_ptr<Seq>> preempted_;  // go before waiting_ on admission
  bool static_batch_open_ = true;                // static mode: the current batch still admits
  std::thread engine_;
};

}  // namespace dsrt
