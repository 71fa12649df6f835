#include "server/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <ctime>

#include "core/log.h"
#include "server/web_ui.h"
#include "tokenizer/reasoning.h"

namespace dsrt::server {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(dump(error_json(e)), "application/json");
}

ApiError make_error(int status, std::string type, std::string msg, std::string param = "", std::string code = "") {
  ApiError e;
  e.status = status;
  e.type = std::move(type);
  e.message = std::move(msg);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

bool ends_with(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

json usage_json(int n_prompt, int n_gen) {
  return {{"prompt_tokens", n_prompt}, {"completion_tokens", n_gen}, {"total_tokens", n_prompt + n_gen}};
}

json bytes_json(const std::string& b) {
  json a = json::array();
  for (unsigned char c : b) a.push_back(int(c));
  return a;
}

// Chat logprobs: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}.
json chat_logprobs(const Tokenizer& tok, const std::vector<TokenOut>& toks) {
  json content = json::array();
  for (const TokenOut& t : toks) {
    const std::string& b = tok.token_bytes(t.token);
    json top = json::array();
    for (const TokenLogprob& a : t.top) {
      const std::string& ab = tok.token_bytes(a.token);
      top.push_back({{"token", ab}, {"logprob", a.logprob}, {"bytes", bytes_json(ab)}});
    }
    content.push_back({{"token", b}, {"logprob", t.logprob}, {"bytes", bytes_json(b)}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

// Completions logprobs: parallel arrays, as the legacy API has them.
json completion_logprobs(const Tokenizer& tok, const std::vector<TokenOut>& toks, size_t* offset) {
  json tokens = json::array(), lps = json::array(), tops = json::array(), offs = json::array();
  for (const TokenOut& t : toks) {
    const std::string& b = tok.token_bytes(t.token);
    tokens.push_back(b);
    lps.push_back(t.logprob);
    json top = json::object();
    for (const TokenLogprob& a : t.top) top[tok.token_bytes(a.token)] = a.logprob;
    tops.push_back(top);
    offs.push_back(*offset);
    *offset += b.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offs}};
}

const char* path_label(const std::string& p) {
  for (const char* k : {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics", "/"})
    if (p == k) return k;
  return "other";
}

// What one generation request accumulates, streaming or not.
struct GenState {
  Endpoint ep;
  std::string id, model;
  int64_t created = 0;
  int n_prompt = 0;
  bool want_logprobs = false, include_usage = false;
  std::shared_ptr<RequestStream> stream;
  std::optional<ReasoningParser> rp;  // chat only
  bool started = false, finished = false;
  size_t text_offset = 0;
};

}  // namespace

ApiServer::ApiServer(ServerOptions opt) : opt_(std::move(opt)), http_(std::make_unique<httplib::Server>()) {
  routes();
}

ApiServer::~ApiServer() {
  stop();
  // The scheduler (inside engine_) joins its engine thread before the model goes.
  if (engine_) engine_->scheduler.reset();
}

// cpp-httplib (Debian's is a compiled library, so its CPPHTTPLIB_LISTEN_BACKLOG cannot be
// changed from here) listens with an accept queue of 5. Sixteen clients connecting at once
// to a busy server overflowed it (the kernel's ListenOverflows counter) and a few requests
// of a load test failed with read errors; listen() again on the bound socket raises the
// queue (capped by net.core.somaxconn).
constexpr int kListenBacklog = 1024;

Result<int> ApiServer::bind() {
  int port = opt_.port;
  if (port == 0) {
    port = http_->bind_to_any_port(opt_.host);
    if (port <= 0) return Status::Error("cannot bind " + opt_.host + " to a free port");
  } else if (!http_->bind_to_port(opt_.host, opt_.port)) {
    return Status::Error("cannot bind " + opt_.host + ":" + std::to_string(opt_.port) + " (in use, or not an address of this host)");
  }
  if (listen_fd_ >= 0) ::listen(listen_fd_, kListenBacklog);
  return port;
}

void ApiServer::listen() { http_->listen_after_bind(); }
void ApiServer::stop() { http_->stop(); }

void ApiServer::set_engine(std::unique_ptr<Engine> e) {
  engine_ = std::move(e);
  ready_ = true;
}

void ApiServer::set_load_error(const std::string& msg) {
  std::lock_guard<std::mutex> lk(mu_);
  load_error_ = msg;
}

void ApiServer::count(const std::string& path, int status) {
  std::lock_guard<std::mutex> lk(mu_);
  ++counts_[{path_label(path), status}];
}

void ApiServer::routes() {
  httplib::Server& s = *http_;
  int threads = opt_.http_threads > 0 ? opt_.http_threads : 64;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  s.set_payload_max_length(opt_.max_body_bytes);
  s.set_read_timeout(30, 0);
  s.set_write_timeout(30, 0);
  // Remember the listening socket (httplib's own options kept) so bind() can lengthen its
  // accept queue; see there.
  s.set_socket_options([this](socket_t fd) {
    httplib::default_socket_options(fd);
    listen_fd_ = int(fd);
  });
  s.set_logger([this](const httplib::Request& req, const httplib::Response& res) { count(req.path, res.status); });
  // Everything the server answers with an error status and no body of its own (unknown
  // routes, 413 from the body limit, 400 from a malformed request line) gets an OpenAI error.
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const int st = res.status;
    std::string type = st == 404 ? "not_found_error" : st == 413 ? "invalid_request_error" : "server_error";
    std::string msg = st == 404   ? "no route " + req.method + " " + req.path
                      : st == 413 ? "the request body is larger than the limit"
                                  : "HTTP error " + std::to_string(st);
    send_error(res, make_error(st, type, msg, "", st == 413 ? "payload_too_large" : ""));
  });
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (opt_.api_key.empty() || req.path == "/health" || (req.method == "GET" && req.path == "/"))
      return httplib::Server::HandlerResponse::Unhandled;
    const std::string want = "Bearer " + opt_.api_key;
    if (req.get_header_value("Authorization") != want) {
      send_error(res, make_error(401, "authentication_error",
                                 req.has_header("Authorization") ? "invalid API key" : "missing API key (Authorization: Bearer ...)",
                                 "", "invalid_api_key"));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (ready_) {
      res.set_content(R"({"status":"ok"})", "application/json");
      return;
    }
    std::lock_guard<std::mutex> lk(mu_);
    res.status = 503;
    res.set_content(dump(load_error_.empty() ? json{{"status", "loading"}} : json{{"status", "error"}, {"message", load_error_}}),
                    "application/json");
  });
  s.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    json m = {{"id", opt_.model_name}, {"object", "model"}, {"created", int64_t(std::time(nullptr))}, {"owned_by", "dsrt"}};
    if (ready_) m["max_model_len"] = engine_->scheduler->options().n_ctx;
    res.set_content(dump(json{{"object", "list"}, {"data", json::array({m})}}), "application/json");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(), "text/plain; version=0.0.4");
  });
  s.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(web_ui_html(), "text/html; charset=utf-8"); });
  s.Post("/v1/chat/completions",
         [this](const httplib::Request& req, httplib::Response& res) { generate(Endpoint::kChat, req, res); });
  s.Post("/v1/completions",
         [this](const httplib::Request& req, httplib::Response& res) { generate(Endpoint::kCompletion, req, res); });
}

void ApiServer::generate(Endpoint ep, const httplib::Request& req, httplib::Response& res) {
  if (!ready_) return send_error(res, make_error(503, "server_error", "the model is still loading", "", "loading"));
  Engine& e = *engine_;
  Scheduler& sched = *e.scheduler;
  const int n_ctx = sched.options().n_ctx;
  ParseLimits lim;
  lim.model_name = opt_.model_name;
  lim.max_tokens_limit = n_ctx;
  ParseResult pr = parse_request(ep, req.body, lim);
  if (auto* err = std::get_if<ApiError>(&pr)) return send_error(res, *err);
  ApiRequest& r = std::get<ApiRequest>(pr);

  std::vector<int32_t> ids;
  bool starts_in_reasoning = false;
  if (ep == Endpoint::kChat) {
    if (!e.chat_template)
      return send_error(res, make_error(400, "invalid_request_error",
                                        "this model has no chat template; use /v1/completions or start the server with --chat-template",
                                        "messages"));
    auto text = render_chat(*e.chat_template, r.messages, ChatOptions{});
    if (!text.ok()) return send_error(res, make_error(400, "invalid_request_error", text.status().message(), "messages"));
    starts_in_reasoning = ends_with(text.value(), "<think>\n") || ends_with(text.value(), "<think>");
    auto enc = e.tok.encode(text.value(), false, true);
    if (!enc.ok()) return send_error(res, make_error(400, "invalid_request_error", enc.status().message(), "messages"));
    ids = std::move(enc).value();
  } else if (!r.prompt_tokens.empty()) {
    ids = r.prompt_tokens;
    for (int32_t t : ids)
      if (!e.tok.valid_id(t) || t >= e.model->config().vocab_size)
        return send_error(res, make_error(400, "invalid_request_error", "token id " + std::to_string(t) + " is outside the vocabulary", "prompt"));
  } else {
    auto enc = e.tok.encode(r.prompt, e.tok.add_bos_default(), true);
    if (!enc.ok()) return send_error(res, make_error(400, "invalid_request_error", enc.status().message(), "prompt"));
    ids = std::move(enc).value();
  }
  const char* pfield = ep == Endpoint::kChat ? "messages" : "prompt";
  if (int64_t(ids.size()) >= n_ctx)
    return send_error(res, make_error(400, "invalid_request_error",
                                      "the prompt has " + std::to_string(ids.size()) + " tokens; this model's context is " +
                                          std::to_string(n_ctx) + " tokens",
                                      pfield, "context_length_exceeded"));
  if (r.max_tokens > 0 && int64_t(ids.size()) + r.max_tokens > n_ctx)
    return send_error(res, make_error(400, "invalid_request_error",
                                      "prompt (" + std::to_string(ids.size()) + " tokens) + max_tokens (" +
                                          std::to_string(r.max_tokens) + ") exceeds the context of " + std::to_string(n_ctx) + " tokens",
                                      "max_tokens", "context_length_exceeded"));
  GenRequest g;
  g.prompt = ids;
  g.params.sampling = r.sampling;
  g.params.max_tokens = r.max_tokens > 0 ? r.max_tokens : opt_.default_max_tokens;
  g.params.stop_strings = r.stop;
  g.params.ignore_eos = r.ignore_eos;
  g.want_logprobs = r.logprobs;
  SubmitResult sub = sched.submit(std::move(g));
  switch (sub.error) {
    case SubmitError::kNone: break;
    case SubmitError::kQueueFull:
      res.set_header("Retry-After", "1");
      return send_error(res, make_error(429, "rate_limit_error", sub.message, "", "queue_full"));
    case SubmitError::kTooLong:
      return send_error(res, make_error(400, "invalid_request_error", sub.message, pfield, "context_length_exceeded"));
    case SubmitError::kBadParams: return send_error(res, make_error(400, "invalid_request_error", sub.message));
    case SubmitError::kStopped: return send_error(res, make_error(503, "server_error", sub.message));
  }

  auto st = std::make_shared<GenState>();
  st->ep = ep;
  st->id = (ep == Endpoint::kChat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id_++);
  st->model = opt_.model_name;
  st->created = int64_t(std::time(nullptr));
  st->n_prompt = int(ids.size());
  st->want_logprobs = r.logprobs;
  st->include_usage = r.include_usage;
  st->stream = sub.stream;
  if (ep == Endpoint::kChat) st->rp.emplace(starts_in_reasoning);
  const Tokenizer* tok = &e.tok;

  auto error_of = [](const StreamEvent& ev) {
    if (ev.finish_reason == "timeout") return make_error(408, "timeout_error", "the request timed out", "", "timeout");
    if (ev.finish_reason == "cancelled") return make_error(503, "server_error", "the request was cancelled (server shutting down)");
    return make_error(500, "server_error", "generation failed: " + ev.error);
  };
  auto failed = [](const StreamEvent& ev) { return ev.finish_reason != "stop" && ev.finish_reason != "length"; };

  if (!r.stream) {
    std::string text;
    std::vector<TokenOut> toks;
    StreamEvent ev;
    for (;;) {
      if (!st->stream->next(&ev, 1000ms)) continue;
      text += ev.text;
      for (auto& t : ev.tokens) toks.push_back(std::move(t));
      if (ev.done) break;
    }
    if (failed(ev)) return send_error(res, error_of(ev));
    json choice = {{"index", 0}, {"finish_reason", ev.finish_reason}, {"logprobs", nullptr}};
    json out = {{"id", st->id}, {"created", st->created}, {"model", st->model}};
    if (ep == Endpoint::kChat) {
      ReasoningSplit sp = split_reasoning(text, starts_in_reasoning);
      json msg = {{"role", "assistant"}, {"content", sp.content}};
      if (!sp.reasoning.empty() || starts_in_reasoning) msg["reasoning_content"] = sp.reasoning;
      choice["message"] = msg;
      if (r.logprobs) choice["logprobs"] = chat_logprobs(*tok, toks);
      out["object"] = "chat.completion";
    } else {
      choice["text"] = text;
      size_t off = 0;
      if (r.logprobs) choice["logprobs"] = completion_logprobs(*tok, toks, &off);
      out["object"] = "text_completion";
    }
    out["choices"] = json::array({choice});
    out["usage"] = usage_json(ev.n_prompt, ev.n_generated);
    res.set_content(dump(out), "application/json");
    return;
  }

  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  auto chunk = [st](json choice) {
    json c = {{"id", st->id},
              {"object", st->ep == Endpoint::kChat ? "chat.completion.chunk" : "text_completion"},
              {"created", st->created},
              {"model", st->model},
              {"choices", json::array({std::move(choice)})}};
    return c;
  };
  auto sse = [](const json& j) { return "data: " + dump(j) + "\n\n"; };
  res.set_chunked_content_provider(
      "text/event-stream",
      [st, tok, chunk, sse, error_of, failed](size_t, httplib::DataSink& sink) {
        if (st->finished) {
          sink.done();
          return true;
        }
        std::string out;
        if (!st->started) {
          st->started = true;
          if (st->ep == Endpoint::kChat)
            out += sse(chunk({{"index", 0},
                              {"delta", {{"role", "assistant"}, {"content", ""}}},
                              {"logprobs", nullptr},
                              {"finish_reason", nullptr}}));
        }
        StreamEvent ev;
        if (!st->stream->next(&ev, 250ms)) {
          // Nothing new (queued or prefilling): an SSE comment keeps the connection alive and
          // finds out whether the client is still there.
          if (out.empty()) out = ": keep-alive\n\n";
          if (!sink.write(out.data(), out.size())) {
            st->stream->cancel();
            return false;
          }
          return true;
        }
        auto delta_choice = [&](const std::string& reasoning, const std::string& content, bool with_lp) {
          json choice = {{"index", 0}, {"finish_reason", nullptr}, {"logprobs", nullptr}};
          if (st->ep == Endpoint::kChat) {
            json d = json::object();
            if (!reasoning.empty()) d["reasoning_content"] = reasoning;
            if (!content.empty() || reasoning.empty()) d["content"] = content;
            choice["delta"] = d;
            if (with_lp && st->want_logprobs) choice["logprobs"] = chat_logprobs(*tok, ev.tokens);
          } else {
            choice["text"] = content;
            if (with_lp && st->want_logprobs) choice["logprobs"] = completion_logprobs(*tok, ev.tokens, &st->text_offset);
          }
          return choice;
        };
        std::string reasoning, content;
        if (st->rp) {
          ReasoningDelta d = st->rp->push(ev.text);
          reasoning = std::move(d.reasoning);
          content = std::move(d.content);
          if (ev.done) {
            ReasoningDelta f = st->rp->finish();
            reasoning += f.reasoning;
            content += f.content;
          }
        } else {
          content = ev.text;
        }
        if (!reasoning.empty() || !content.empty() || (st->want_logprobs && !ev.tokens.empty()))
          out += sse(chunk(delta_choice(reasoning, content, true)));
        if (ev.done) {
          if (failed(ev)) {
            out += sse(error_json(error_of(ev)));
          } else {
            json fin = {{"index", 0}, {"finish_reason", ev.finish_reason}, {"logprobs", nullptr}};
            if (st->ep == Endpoint::kChat) fin["delta"] = json::object();
            else fin["text"] = "";
            json c = chunk(fin);
            c["usage"] = usage_json(ev.n_prompt, ev.n_generated);
            out += sse(c);
            if (st->include_usage) {
              json u = chunk(json::object());
              u["choices"] = json::array();
              u["usage"] = usage_json(ev.n_prompt, ev.n_generated);
              out += sse(u);
            }
          }
          out += "data: [DONE]\n\n";
          st->finished = true;
        }
        if (!out.empty() && !sink.write(out.data(), out.size())) {
          st->stream->cancel();
          return false;
        }
        if (st->finished) sink.done();
        return true;
      },
      [st](bool) {
        // The connection is gone or the stream ended; either way nothing more is wanted.
        if (!st->finished) st->stream->cancel();
      });
}

std::string ApiServer::metrics_text() {
  std::string o;
  auto line = [&](const std::string& s) { o += s + "\n"; };
  auto num = [](double v) {
    char b[64];
    std::snprintf(b, sizeof b, "%.17g", v);
    return std::string(b);
  };
  auto short_num = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return std::string(b);
  };
  auto metric = [&](const char* name, const char* type, const char* help) {
    line(std::string("# HELP ") + name + " " + help);
    line(std::string("# TYPE ") + name + " " + type);
  };
  auto hist = [&](const char* name, const char* help, const Histogram& h) {
    metric(name, "histogram", help);
    uint64_t cum = 0;
    for (size_t i = 0; i < h.counts.size(); ++i) {
      cum += h.counts[i];
      line(std::string(name) + "_bucket{le=\"" + (i < h.bounds.size() ? short_num(h.bounds[i]) : "+Inf") + "\"} " +
           std::to_string(cum));
    }
    line(std::string(name) + "_sum " + num(h.sum));
    line(std::string(name) + "_count " + std::to_string(h.count));
  };
  metric("dsrt_ready", "gauge", "1 once the model is loaded");
  line("dsrt_ready " + std::to_string(ready_ ? 1 : 0));
  metric("dsrt_http_requests_total", "counter", "HTTP requests answered, by path and status");
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& [k, v] : counts_)
      line("dsrt_http_requests_total{path=\"" + k.first + "\",status=\"" + std::to_string(k.second) + "\"} " +
           std::to_string(v));
  }
  if (!ready_) return o;
  const SchedulerMetrics m = engine_->scheduler->metrics();
  metric("dsrt_requests_total", "counter", "Generation requests by outcome");
  line("dsrt_requests_total{outcome=\"finished\"} " + std::to_string(m.requests_finished));
  line("dsrt_requests_total{outcome=\"cancelled\"} " + std::to_string(m.requests_cancelled));
  line("dsrt_requests_total{outcome=\"timeout\"} " + std::to_string(m.requests_timeout));
  line("dsrt_requests_total{outcome=\"error\"} " + std::to_string(m.requests_error));
  line("dsrt_requests_total{outcome=\"rejected_queue_full\"} " + std::to_string(m.requests_rejected_queue_full));
  metric("dsrt_prompt_tokens_total", "counter", "Prompt tokens admitted");
  line("dsrt_prompt_tokens_total " + std::to_string(m.prompt_tokens));
  metric("dsrt_generation_tokens_total", "counter", "Tokens generated");
  line("dsrt_generation_tokens_total " + std::to_string(m.generated_tokens));
  metric("dsrt_preemptions_total", "counter", "Sequences that gave up their KV blocks and were recomputed");
  line("dsrt_preemptions_total " + std::to_string(m.preemptions));
  metric("dsrt_engine_steps_total", "counter", "Forward passes run by the engine");
  line("dsrt_engine_steps_total " + std::to_string(m.steps));
  hist("dsrt_time_to_first_token_seconds", "Time from submission to the first generated token", m.ttft);
  hist("dsrt_time_per_output_token_seconds", "Time between consecutive generated tokens", m.tpot);
  hist("dsrt_batch_tokens", "Tokens per forward pass", m.batch_tokens);
  metric("dsrt_queue_depth", "gauge", "Requests waiting for admission");
  line("dsrt_queue_depth " + std::to_string(m.queue_depth));
  metric("dsrt_running_sequences", "gauge", "Sequences in the running batch");
  line("dsrt_running_sequences " + std::to_string(m.running));
  metric("dsrt_batch_size", "gauge", "Sequences in the last forward pass");
  line("dsrt_batch_size " + std::to_string(m.last_batch_seqs));
  metric("dsrt_kv_blocks_total", "gauge", "KV blocks in the pool");
  line("dsrt_kv_blocks_total " + std::to_string(m.kv_blocks_total));
  metric("dsrt_kv_blocks_used", "gauge", "KV blocks held by sequences");
  line("dsrt_kv_blocks_used " + std::to_string(m.kv_blocks_total - m.kv_blocks_free));
  metric("dsrt_kv_blocks_free", "gauge", "KV blocks free");
  line("dsrt_kv_blocks_free " + std::to_string(m.kv_blocks_free));
  metric("dsrt_kv_blocks_cached", "gauge", "Free KV blocks still holding a cached prompt prefix");
  line("dsrt_kv_blocks_cached " + std::to_string(m.kv_blocks_cached));
  metric("dsrt_prefix_cache_hit_tokens_total", "counter", "Prompt tokens served from the prefix cache");
  line("dsrt_prefix_cache_hit_tokens_total " + std::to_string(m.prefix_hit_tokens));
  metric("dsrt_kv_block_size_tokens", "gauge", "Tokens per KV block");
  line("dsrt_kv_block_size_tokens " + std::to_string(m.kv_block_size));
  return o;
}

}  // namespace dsrt::server
