// `dsrt serve`: the OpenAI-compatible HTTP server (src/server) over the continuous-batching
// scheduler (src/runtime/scheduler.h).
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/command.h"
#include "core/mmap_file.h"
#include "models/demo.h"
#include "runtime/scheduler.h"
#include "server/loadgen.h"
#include "server/server.h"

#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

namespace dsrt::cli {
namespace {

struct ServeOpts {
  std::string model, model_name, chat_template, batching = "continuous", port_file;
  server::ServerOptions http;
  SchedulerOptions sched;
  int threads = 0;
  double kv_memory_mib = 0;
  size_t max_body = 1 << 20;
};

// Loads what the server serves; an empty path means the embedded demo model.
Result<std::unique_ptr<server::Engine>> load_engine(ServeOpts& o) {
  std::string path = o.model;
  if (path.empty()) {
    path = default_demo_dir();
    if (!std::filesystem::exists(path + "/config.json")) {
      std::fprintf(stderr, "dsrt serve: writing the demo model (random weights) to %s\n", path.c_str());
      DSRT_RETURN_IF_ERROR(write_demo_model(path, default_assets_dir()));
    }
  }
  auto e = std::make_unique<server::Engine>();
  DSRT_ASSIGN_OR_RETURN(auto be, make_backend("cpu", o.threads));
  DSRT_ASSIGN_OR_RETURN(e->model, load_model(path, std::shared_ptr<Backend>(std::move(be))));
  auto tok = Tokenizer::load(path);
  if (!tok.ok()) return tok.status().with_context("loading the tokenizer of " + path);
  e->tok = std::move(tok).value();
  if (!o.chat_template.empty()) {
    DSRT_ASSIGN_OR_RETURN(e->chat_template, chat_template_from_name(o.chat_template));
  } else if (!e->tok.chat_template().empty()) {
    auto k = detect_chat_template(e->tok.chat_template());
    if (k.ok()) e->chat_template = k.value();
    else std::fprintf(stderr, "dsrt serve: %s; /v1/chat/completions is off\n", k.status().message().c_str());
  }
  SchedulerOptions so = o.sched;
  DSRT_ASSIGN_OR_RETURN(so.mode, batching_mode_from_name(o.batching));
  if (o.kv_memory_mib > 0 && so.kv_blocks == 0) {
    const double per_block = double(so.block_size) * double(e->model->cache_values_per_token_layer()) *
                             e->model->config().num_hidden_layers * 4;
    so.kv_blocks = int32_t(std::min(double(1 << 30), o.kv_memory_mib * 1048576.0 / per_block));
    if (so.kv_blocks < 1) return Status::Error("--kv-memory is smaller than one KV block");
  }
  DSRT_ASSIGN_OR_RETURN(e->scheduler, Scheduler::create(*e->model, e->tok, so));
  const auto& eo = e->scheduler->options();
  std::fprintf(stderr,
               "dsrt serve: %s batching, parallel %d, ctx %d, batch budget %d tokens, KV pool %d blocks x %d tokens\n",
               batching_mode_name(eo.mode), eo.parallel, eo.n_ctx, eo.max_batch_tokens, eo.kv_blocks, eo.block_size);
  return e;
}

int run_serve(ServeOpts o) {
  if (o.model_name.empty())
    o.model_name = o.model.empty() ? "dsrt-demo" : std::filesystem::path(o.model).filename().string();
  if (o.model_name.empty()) o.model_name = "dsrt";
  o.http.model_name = o.model_name;
  o.http.max_body_bytes = o.max_body;
  if (o.http.http_threads == 0) o.http.http_threads = std::min(1024, o.sched.parallel + o.sched.max_queue + 8);
  // Block the stop signals in every thread; the main thread waits for them with sigwait.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up is an error return, not a signal

  server::ApiServer srv(o.http);
  auto port = srv.bind();
  if (!port.ok()) return fail("serve", port.status().message());
  std::thread http([&] { srv.listen(); });
  std::fprintf(stderr, "dsrt serve: listening on http://%s:%d (model '%s' loading)\n", o.http.host.c_str(),
               port.value(), o.model_name.c_str());
  if (!o.port_file.empty()) {
    std::ofstream(o.port_file + ".tmp") << port.value() << "\n";
    std::filesystem::rename(o.port_file + ".tmp", o.port_file);
  }
  auto e = load_engine(o);
  if (!e.ok()) {
    srv.set_load_error(e.status().message());
    srv.stop();
    http.join();
    return fail("serve", e.status().message());
  }
  srv.set_engine(std::move(e).value());
  std::fprintf(stderr, "dsrt serve: ready\n");
  int sig = 0;
  sigwait(&sigs, &sig);
  std::fprintf(stderr, "dsrt serve: stopping (signal %d)\n", sig);
  srv.stop();
  http.join();
  return 0;
}

DSRT_COMMAND(serve_cmd, "serve", "OpenAI-compatible HTTP server with continuous batching",
             [](CLI::App& app) -> std::function<int()> {
               auto o = std::make_shared<ServeOpts>();
               app.add_option("-m,--model", o->model, "Checkpoint folder or GGUF file (default: the embedded demo model)");
               app.add_option("--model-name", o->model_name, "Name in /v1/models and requests (default: the folder name)");
               app.add_option("--host", o->http.host, "Address to listen on")->capture_default_str();
               app.add_option("--port", o->http.port, "Port (0 = any free port)")->check(CLI::Range(0, 65535))->capture_default_str();
               app.add_option("--port-file", o->port_file, "Write the bound port to this file once listening");
               app.add_option("--api-key", o->http.api_key, "Require 'Authorization: Bearer KEY' (all but /health)");
               app.add_option("--parallel", o->sched.parallel, "Most sequences running at once")->check(CLI::Range(1, 4096))->capture_default_str();
               app.add_option("-c,--ctx-size", o->sched.n_ctx, "Most tokens (prompt + generated) per request")->check(CLI::Range(16, 1 << 22))->capture_default_str();
               app.add_option("--max-batch-tokens", o->sched.max_batch_tokens, "Token budget of one forward pass (decode + prefill chunks)")->check(CLI::Range(1, 1 << 20))->capture_default_str();
               app.add_option("--max-queue", o->sched.max_queue, "Most requests waiting; more get 429")->check(CLI::Range(0, 1 << 16))->capture_default_str();
               app.add_option("--timeout", o->sched.timeout_s, "Seconds a request may take (0 = no limit)")->check(CLI::Range(0.0, 1e7));
               app.add_option("--kv-blocks", o->sched.kv_blocks, "KV pool blocks (default: parallel x ctx-size worth)")->check(CLI::Range(0, 1 << 30));
               app.add_option("--block-size", o->sched.block_size, "Tokens per KV block")->check(CLI::Range(1, 4096))->capture_default_str();
               app.add_flag("!--no-prefix-cache", o->sched.prefix_cache, "Do not reuse the KV blocks of identical prompt prefixes");
               app.add_option("--kv-memory", o->kv_memory_mib, "KV pool size in MiB (instead of --kv-blocks)")->check(CLI::Range(0.0, 1e9));
               app.add_option("--batching", o->batching, "continuous | static | off")->check(CLI::IsMember({"continuous", "static", "off"}))->capture_default_str();
               app.add_option("-t,--threads", o->threads, "Compute threads (0 = all cores)")->check(CLI::Range(0, 1024));
               app.add_option("--chat-template", o->chat_template, "Force a chat template (deepseek-v3, deepseek-r1, ...)");
               app.add_option("--max-body", o->max_body, "Largest request body in bytes (larger: 413)")->check(CLI::Range(size_t(1024), size_t(1) << 30));
               app.add_option("--default-max-tokens", o->http.default_max_tokens, "max_tokens when a request gives none (0 = to the end of the context)")->check(CLI::Range(0, 1 << 22));
               app.add_option("--http-threads", o->http.http_threads, "HTTP worker threads (default: parallel + max-queue + 8)")->check(CLI::Range(0, 4096));
               return [=] { return run_serve(*o); };
             });

struct LoadCli {
  server::LoadOptions load;
  std::string output = "md";
  // --compare-batching: start one server per mode on this model and run the same load on each.
  bool compare = false;
  std::string model, modes = "off,static,continuous";
  int parallel = 0, ctx = 2048, threads = 0, max_batch_tokens = 0;
  bool no_prefix_cache = false;
};

// A `dsrt serve` child on a free port, for --compare-batching.
struct Child {
  pid_t pid = -1;
  int port = 0;
  ~Child() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

Result<std::unique_ptr<Child>> start_server(const LoadCli& o, const std::string& mode) {
  auto c = std::make_unique<Child>();
  const std::string pf = "/tmp/dsrt-bench-serve-" + std::to_string(getpid()) + "-" + mode + ".port";
  std::filesystem::remove(pf);
  const int par = o.parallel > 0 ? o.parallel : o.load.concurrency;
  std::vector<std::string> args = {"/proc/self/exe", "serve", "--port", "0", "--port-file", pf, "--batching", mode,
                                   "--parallel", std::to_string(par), "--ctx-size", std::to_string(o.ctx),
                                   "--max-queue", std::to_string(std::max(64, o.load.concurrency * 2)),
                                   "--threads", std::to_string(o.threads)};
  if (!o.model.empty()) args.insert(args.end(), {"--model", o.model});
  if (o.max_batch_tokens > 0) args.insert(args.end(), {"--max-batch-tokens", std::to_string(o.max_batch_tokens)});
  else args.insert(args.end(), {"--max-batch-tokens", std::to_string(std::max(512, par))});
  if (!o.load.api_key.empty()) args.insert(args.end(), {"--api-key", o.load.api_key});
  if (o.no_prefix_cache) args.push_back("--no-prefix-cache");
  // The global weight-residency flag (core/mmap_file.h) reaches the started servers too.
  if (default_residency() == Residency::Map) args.push_back("--mmap");
  if (default_residency() == Residency::Copy) args.push_back("--no-mmap");
  c->pid = fork();
  if (c->pid == 0) {
    std::vector<char*> a;
    for (auto& x : args) a.push_back(x.data());
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  for (int i = 0; i < 1200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (c->port == 0) {
      std::ifstream f(pf);
      if (f) f >> c->port;
      continue;
    }
    httplib::Client cl("127.0.0.1", c->port);
    auto r = cl.Get("/health");
    if (r && r->status == 200) {
      std::filesystem::remove(pf);
      return c;
    }
    if (waitpid(c->pid, nullptr, WNOHANG) == c->pid) {
      c->pid = -1;
      break;
    }
  }
  return Status::Error("the '" + mode + "' server did not become ready");
}

void print_report(const std::string& label, const server::LoadReport& r) {
  std::printf("| %s | %d | %d | %.2f | %.1f | %.2f | %.1f / %.1f / %.1f | %.1f / %.1f / %.1f | %.1f / %.1f |\n", label.c_str(),
              r.completed, r.failed, r.request_throughput, r.output_throughput, r.goodput, r.ttft_ms.mean, r.ttft_ms.p50,
              r.ttft_ms.p99, r.tpot_ms.mean, r.tpot_ms.p50, r.tpot_ms.p99, r.itl_ms.p50, r.itl_ms.p99);
}

int run_bench_serve(LoadCli o) {
  std::vector<std::pair<std::string, server::LoadReport>> rows;
  auto one = [&](const std::string& label) -> int {
    std::string gen = std::to_string(o.load.gen_len);
    if (o.load.gen_len_min > 0) gen = o.load.gen_len_dist + " " + std::to_string(o.load.gen_len_min) + ".." + gen;
    std::fprintf(stderr, "dsrt bench serve: %s: %d requests, concurrency %d, prompt %d (+ %d shared), gen %s\n",
                 label.c_str(), o.load.requests, o.load.concurrency, o.load.prompt_len, o.load.shared_prefix,
                 gen.c_str());
    auto r = server::run_load(o.load);
    if (!r.ok()) return fail("bench serve", r.status().message());
    for (auto& e : r.value().errors) std::fprintf(stderr, "dsrt bench serve: %s\n", e.c_str());
    rows.push_back({label, r.value()});
    return 0;
  };
  if (o.compare) {
    std::stringstream ss(o.modes);
    std::string mode;
    while (std::getline(ss, mode, ',')) {
      if (!batching_mode_from_name(mode).ok()) return fail("bench serve", "--modes: unknown mode '" + mode + "'");
      auto c = start_server(o, mode);
      if (!c.ok()) return fail("bench serve", c.status().message());
      o.load.url = "http://127.0.0.1:" + std::to_string(c.value()->port);
      if (int rc = one(mode)) return rc;
    }
  } else if (int rc = one(o.load.url)) {
    return rc;
  }
  if (o.output == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (auto& [label, r] : rows) {
      nlohmann::json j = r.to_json();
      j["label"] = label;
      j["concurrency"] = o.load.concurrency;
      j["prompt_len"] = o.load.prompt_len;
      j["shared_prefix"] = o.load.shared_prefix;
      j["gen_len"] = o.load.gen_len;
      j["gen_len_min"] = o.load.gen_len_min;
      j["gen_len_dist"] = o.load.gen_len_dist;
      out.push_back(j);
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("| server | done | failed | req/s | out tok/s | goodput req/s | TTFT ms mean / p50 / p99 | TPOT ms mean / p50 / p99 | ITL ms p50 / p99 |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (auto& [label, r] : rows) print_report(label, r);
  if (rows.size() > 1) {
    const double base = rows.back().second.output_throughput;
    for (auto& [label, r] : rows)
      std::printf("output tok/s of %s: %.2fx of %s\n", rows.back().first.c_str(),
                  r.output_throughput > 0 ? base / r.output_throughput : 0.0, label.c_str());
  }
  return 0;
}

}  // namespace

std::function<std::optional<int>()> add_serve_mode(CLI::App& bench) {
  CLI::App* sub = bench.add_subcommand("serve", "Load-test an OpenAI-compatible server (TTFT, TPOT, ITL, goodput)");
  auto o = std::make_shared<LoadCli>();
  sub->add_option("--url", o->load.url, "Server base URL")->capture_default_str();
  sub->add_option("--api-key", o->load.api_key, "Bearer key");
  sub->add_option("-c,--concurrency", o->load.concurrency, "Concurrent clients")->check(CLI::Range(1, 4096))->capture_default_str();
  sub->add_option("-n,--requests", o->load.requests, "Requests in all")->check(CLI::Range(1, 1 << 24))->capture_default_str();
  sub->add_option("--rate", o->load.rate, "Request rate per second, Poisson arrivals (0 = closed loop)")->check(CLI::Range(0.0, 1e6));
  sub->add_option("--prompt-len", o->load.prompt_len, "Prompt tokens per request")->check(CLI::Range(1, 1 << 20))->capture_default_str();
  sub->add_option("--shared-prefix", o->load.shared_prefix, "Tokens every prompt starts with (a common system prompt), before its own --prompt-len")->check(CLI::Range(0, 1 << 20))->capture_default_str();
  sub->add_option("--gen-len", o->load.gen_len, "Generated tokens per request")->check(CLI::Range(1, 1 << 20))->capture_default_str();
  sub->add_option("--gen-len-min", o->load.gen_len_min,
                  "Draw each request's length from [gen-len-min, gen-len] by --gen-len-dist (0 = fixed)")
      ->check(CLI::Range(0, 1 << 20));
  sub->add_option("--gen-len-dist", o->load.gen_len_dist,
                  "uniform, or exp: long-tailed lengths from --gen-len-min (mean --gen-len-mean, at most --gen-len)")
      ->check(CLI::IsMember({"uniform", "exp"}))
      ->capture_default_str();
  sub->add_option("--gen-len-mean", o->load.gen_len_mean, "Mean length for --gen-len-dist exp (0 = (min + max) / 4)")
      ->check(CLI::Range(0.0, 1e7));
  sub->add_option("--slo-ttft", o->load.slo_ttft_ms, "TTFT SLO in ms for goodput")->check(CLI::Range(0.0, 1e9));
  sub->add_option("--slo-tpot", o->load.slo_tpot_ms, "TPOT SLO in ms for goodput")->check(CLI::Range(0.0, 1e9));
  sub->add_option("--disconnect-frac", o->load.disconnect_frac, "Fraction of clients that hang up mid-stream")->check(CLI::Range(0.0, 1.0));
  sub->add_option("--bad-frac", o->load.bad_frac, "Fraction of requests with bad input")->check(CLI::Range(0.0, 1.0));
  sub->add_option("--seed", o->load.seed, "Seed of the prompts and the schedule");
  sub->add_option("-o,--output", o->output, "md | json")->check(CLI::IsMember({"md", "json"}));
  CLI::Option* compare = sub->add_flag("--compare-batching", o->compare, "Start servers with each --modes and run the same load on each");
  sub->add_flag("--no-prefix-cache", o->no_prefix_cache, "Start the --compare-batching servers with --no-prefix-cache")->needs(compare);
  sub->add_option("--modes", o->modes, "Batching modes for --compare-batching")->capture_default_str();
  sub->add_option("-m,--model", o->model, "Model for --compare-batching (default: the demo model)");
  sub->add_option("--parallel", o->parallel, "--parallel of the started servers (default: concurrency)")->check(CLI::Range(0, 4096));
  sub->add_option("--ctx-size", o->ctx, "--ctx-size of the started servers")->check(CLI::Range(16, 1 << 22));
  sub->add_option("--max-batch-tokens", o->max_batch_tokens, "--max-batch-tokens of the started servers")->check(CLI::Range(0, 1 << 20));
  sub->add_option("-t,--threads", o->threads, "--threads of the started servers")->check(CLI::Range(0, 1024));
  return [sub, o]() -> std::optional<int> {
    if (!sub->parsed()) return std::nullopt;
    return run_bench_serve(*o);
  };
}

}  // namespace dsrt::cli
