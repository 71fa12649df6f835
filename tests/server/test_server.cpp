// `dsrt serve` driven as a client drives it: a real server process on a free loopback port,
// requests over HTTP with cpp-httplib's client. Covers streaming and not, usage, stop
// strings, seeds, logprobs, reasoning split, cancellation (blocks come back), every bad-input
// class, 429 on a full queue, auth, /health, /metrics, and a soak run with chaos.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/loadgen.h"
#include "test_util.h"

namespace dsrt {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// One `dsrt serve` child process. The destructor stops it with SIGTERM and checks it exited
// cleanly: a crash anywhere in a test shows up as a failure here.
class ServerProc {
 public:
  explicit ServerProc(std::vector<std::string> args) {
    static std::atomic<int> n{0};
    port_file_ = test::binary_dir() + "/server-test-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".port";
    std::filesystem::remove(port_file_);
    std::vector<std::string> argv = {test::dsrt_binary(), "serve", "--model", DSRT_SERVER_DEMO, "--port", "0",
                                     "--port-file", port_file_, "--threads", "2"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> a;
      for (auto& s : argv) a.push_back(s.data());
      a.push_back(nullptr);
      execv(a[0], a.data());
      _exit(127);
    }
    for (int i = 0; i < 600 && port_ == 0; ++i) {
      std::this_thread::sleep_for(50ms);
      std::ifstream f(port_file_);
      if (f) f >> port_;
    }
    if (port_ == 0) return;
    for (int i = 0; i < 600; ++i) {
      httplib::Client c("127.0.0.1", port_);
      auto r = c.Get("/health");
      if (r && r->status == 200) {
        ready_ = true;
        return;
      }
      std::this_thread::sleep_for(50ms);
    }
  }
  ~ServerProc() { stop(); }
  int stop() {
    if (pid_ <= 0) return exit_status_;
    kill(pid_, SIGTERM);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    std::filesystem::remove(port_file_);
    exit_status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    EXPECT_EQ(exit_status_, 0) << "dsrt serve did not exit cleanly";
    return exit_status_;
  }
  bool ready() const { return ready_; }
  int port() const { return port_; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120s);
    return c;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0, exit_status_ = 0;
  bool ready_ = false;
  std::string port_file_;
};

json post(const ServerProc& s, const std::string& path, const json& body, int* status = nullptr,
          const httplib::Headers& h = {}) {
  auto c = s.client();
  auto r = c.Post(path, h, body.dump(), "application/json");
  if (!r) {
    ADD_FAILURE() << "no response: " << httplib::to_string(r.error());
    return {};
  }
  if (status) *status = r->status;
  return json::parse(r->body, nullptr, false);
}

struct Streamed {
  int status = 0;
  std::vector<json> events;
  bool done = false;  // saw data: [DONE]
  std::string text, reasoning;
};

// Reads an SSE stream; stop_after > 0 hangs up after that many events.
Streamed stream(const ServerProc& s, const std::string& path, const json& body, int stop_after = 0) {
  Streamed out;
  auto c = s.client();
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  std::string buf;
  req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
    buf.append(d, n);
    size_t p;
    while ((p = buf.find("\n\n")) != std::string::npos) {
      std::string ev = buf.substr(0, p);
      buf.erase(0, p + 2);
      if (ev.rfind("data: ", 0) != 0) continue;
      if (ev == "data: [DONE]") {
        out.done = true;
        continue;
      }
      json j = json::parse(ev.substr(6), nullptr, false);
      EXPECT_FALSE(j.is_discarded()) << ev;
      out.events.push_back(j);
      if (j.contains("choices") && !j["choices"].empty()) {
        const json& ch = j["choices"][0];
        if (ch.contains("text")) out.text += ch["text"].get<std::string>();
        if (ch.contains("delta")) {
          if (ch["delta"].contains("content")) out.text += ch["delta"]["content"].get<std::string>();
          if (ch["delta"].contains("reasoning_content")) out.reasoning += ch["delta"]["reasoning_content"].get<std::string>();
        }
      }
      if (stop_after > 0 && int(out.events.size()) >= stop_after) return false;
    }
    return true;
  };
  auto r = c.send(req);
  if (r) out.status = r->status;
  return out;
}

std::map<std::string, double> metrics(const ServerProc& s) {
  std::map<std::string, double> m;
  auto c = s.client();
  auto r = c.Get("/metrics");
  if (!r) return m;
  std::istringstream in(r->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.rfind(' ');
    m[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return m;
}

// Waits until every KV block is back in the pool.
bool blocks_return(const ServerProc& s) {
  for (int i = 0; i < 200; ++i) {
    auto m = metrics(s);
    if (m.count("dsrt_kv_blocks_used") && m["dsrt_kv_blocks_used"] == 0 && m["dsrt_running_sequences"] == 0) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

json chat(const std::string& text, int max_tokens) {
  return {{"messages", {{{"role", "user"}, {"content", text}}}}, {"max_tokens", max_tokens}};
}

class Serve : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { srv_ = new ServerProc({"--parallel", "4", "--ctx-size", "512", "--max-batch-tokens", "64"}); }
  static void TearDownTestSuite() {
    delete srv_;
    srv_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(srv_->ready()) << "the server did not start"; }
  static ServerProc* srv_;
};
ServerProc* Serve::srv_ = nullptr;

TEST_F(Serve, ChatNonStreamHasUsage) {
  json b = chat("Hello there", 8);
  b["ignore_eos"] = true;
  int st = 0;
  json r = post(*srv_, "/v1/chat/completions", b, &st);
  ASSERT_EQ(st, 200) << r.dump();
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(r["choices"][0]["message"]["content"].is_string());
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r["usage"]["completion_tokens"], 8);
  EXPECT_GT(r["usage"]["prompt_tokens"].get<int>(), 2);
  EXPECT_EQ(r["usage"]["total_tokens"].get<int>(),
            r["usage"]["prompt_tokens"].get<int>() + r["usage"]["completion_tokens"].get<int>());
}

TEST_F(Serve, StreamMatchesNonStreamAndEndsWithDone) {
  json b = {{"prompt", "The quick brown fox"}, {"max_tokens", 12}, {"temperature", 0.8}, {"seed", 42}, {"ignore_eos", true}};
  int st = 0;
  json whole = post(*srv_, "/v1/completions", b, &st);
  ASSERT_EQ(st, 200) << whole.dump();
  b["stream"] = true;
  b["stream_options"] = {{"include_usage", true}};
  Streamed s = stream(*srv_, "/v1/completions", b);
  EXPECT_EQ(s.status, 200);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.text, whole["choices"][0]["text"].get<std::string>());
  ASSERT_GE(s.events.size(), 2u);
  const json& last = s.events.back();  // the include_usage chunk: no choices, usage
  EXPECT_TRUE(last["choices"].empty());
  EXPECT_EQ(last["usage"]["completion_tokens"], 12);
  EXPECT_EQ(last["usage"]["prompt_tokens"], whole["usage"]["prompt_tokens"]);
  EXPECT_EQ(s.events[s.events.size() - 2]["choices"][0]["finish_reason"], "length");
}

TEST_F(Serve, ChatStreamDeltas) {
  json b = chat("Hi", 6);
  b["stream"] = true;
  Streamed s = stream(*srv_, "/v1/chat/completions", b);
  EXPECT_EQ(s.status, 200);
  EXPECT_TRUE(s.done);
  ASSERT_FALSE(s.events.empty());
  EXPECT_EQ(s.events[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(s.events[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_FALSE(s.events.back()["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(s.events.back().contains("usage"));  // usage in every final answer
}

TEST_F(Serve, SeedsAreReproducible) {
  auto gen = [&](uint64_t seed) {
    json b = {{"prompt", "Once upon a time"}, {"max_tokens", 16}, {"temperature", 1.0}, {"top_p", 0.95},
              {"seed", seed}, {"ignore_eos", true}};
    return post(*srv_, "/v1/completions", b)["choices"][0]["text"].get<std::string>();
  };
  const std::string a = gen(7), b = gen(7), c = gen(8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

// A repeated prompt takes its full KV blocks from the prefix cache (counted in /metrics) and
// gives the same greedy answer as the first, computed one; the blocks still all come back.
TEST_F(Serve, PrefixCacheReusesPromptBlocks) {
  std::string text;
  for (int i = 0; i < 6; ++i) text += "The quick brown fox jumps over the lazy dog. ";
  const json b = {{"prompt", text}, {"max_tokens", 12}, {"temperature", 0.0}, {"ignore_eos", true}};
  const json first = post(*srv_, "/v1/completions", b);
  ASSERT_TRUE(first.contains("choices")) << first.dump();
  const int n_prompt = first["usage"]["prompt_tokens"].get<int>();
  ASSERT_GE(n_prompt, 40) << "the prompt should span several 16-token blocks";
  const double hits0 = metrics(*srv_)["dsrt_prefix_cache_hit_tokens_total"];
  const json second = post(*srv_, "/v1/completions", b);
  EXPECT_EQ(second["choices"][0]["text"], first["choices"][0]["text"]);
  EXPECT_EQ(second["usage"]["prompt_tokens"], n_prompt);
  const double hits = metrics(*srv_)["dsrt_prefix_cache_hit_tokens_total"] - hits0;
  EXPECT_GE(hits, double((n_prompt - 1) / 16 * 16));
  EXPECT_TRUE(blocks_return(*srv_));
}

TEST_F(Serve, StopStringEndsGeneration) {
  json b = {{"prompt", "Numbers:"}, {"max_tokens", 24}, {"temperature", 0}, {"ignore_eos", true}};
  const std::string full = post(*srv_, "/v1/completions", b)["choices"][0]["text"].get<std::string>();
  ASSERT_GT(full.size(), 12u);
  const std::string stop = full.substr(full.size() / 2, 3);
  b["stop"] = stop;
  json r = post(*srv_, "/v1/completions", b);
  EXPECT_EQ(r["choices"][0]["text"].get<std::string>(), full.substr(0, full.find(stop)));
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  // The same through the stream.
  b["stream"] = true;
  EXPECT_EQ(stream(*srv_, "/v1/completions", b).text, full.substr(0, full.find(stop)));
}

TEST_F(Serve, Logprobs) {
  json b = chat("Hi", 5);
  b["ignore_eos"] = true;
  b["logprobs"] = true;
  b["top_logprobs"] = 3;
  json r = post(*srv_, "/v1/chat/completions", b);
  const json& lp = r["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(lp.size(), 5u) << r.dump();
  for (const json& t : lp) {
    EXPECT_LE(t["logprob"].get<double>(), 0.0);
    ASSERT_EQ(t["top_logprobs"].size(), 3u);
    EXPECT_GE(t["top_logprobs"][0]["logprob"].get<double>(), t["top_logprobs"][2]["logprob"].get<double>());
  }
  json c = post(*srv_, "/v1/completions", {{"prompt", "x"}, {"max_tokens", 3}, {"logprobs", 2}, {"ignore_eos", true}});
  EXPECT_EQ(c["choices"][0]["logprobs"]["tokens"].size(), 3u) << c.dump();
  EXPECT_EQ(c["choices"][0]["logprobs"]["top_logprobs"][0].size(), 2u);
}

TEST_F(Serve, HealthModelsMetrics) {
  auto c = srv_->client();
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(json::parse(h->body)["status"], "ok");
  auto m = c.Get("/v1/models");
  ASSERT_TRUE(m);
  EXPECT_EQ(json::parse(m->body)["data"][0]["id"], "server-demo");
  auto me = metrics(*srv_);
  for (const char* k : {"dsrt_queue_depth", "dsrt_running_sequences", "dsrt_batch_size", "dsrt_kv_blocks_free",
                        "dsrt_kv_blocks_used", "dsrt_prompt_tokens_total", "dsrt_generation_tokens_total",
                        "dsrt_time_to_first_token_seconds_count", "dsrt_time_per_output_token_seconds_count",
                        "dsrt_requests_total{outcome=\"finished\"}"})
    EXPECT_TRUE(me.count(k)) << k;
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("dsrt chat"), std::string::npos);
}

TEST_F(Serve, ClientDisconnectCancelsAndFreesBlocks) {
  const double before = metrics(*srv_)["dsrt_requests_total{outcome=\"cancelled\"}"];
  json b = {{"prompt", "Tell me a long story"}, {"max_tokens", 400}, {"ignore_eos", true}, {"stream", true}};
  Streamed s = stream(*srv_, "/v1/completions", b, 3);
  EXPECT_FALSE(s.done);
  ASSERT_TRUE(blocks_return(*srv_));
  auto m = metrics(*srv_);
  EXPECT_GE(m["dsrt_requests_total{outcome=\"cancelled\"}"], before + 1);
  EXPECT_EQ(m["dsrt_kv_blocks_free"], m["dsrt_kv_blocks_total"]);
}

struct Bad {
  const char* path;
  std::string body;
  int status;
  const char* param;
};

TEST_F(Serve, BadInputGetsOpenAiErrors) {
  const std::string big_prompt(3000, 'a');  // ~ >512 tokens? checked below via context error
  std::string long_words;
  for (int i = 0; i < 700; ++i) long_words += " word" + std::to_string(i);
  const std::vector<Bad> cases = {
      {"/v1/chat/completions", "{not json", 400, ""},
      {"/v1/chat/completions", "[1,2]", 400, ""},
      {"/v1/chat/completions", R"({"max_tokens": 4})", 400, "messages"},
      {"/v1/chat/completions", R"({"messages": []})", 400, "messages"},
      {"/v1/chat/completions", R"({"messages": "hi"})", 400, "messages"},
      {"/v1/chat/completions", R"({"messages": [{"role": "wizard", "content": "x"}]})", 400, "messages"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": 5}]})", 400, "messages"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0})", 400, "max_tokens"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": -1})", 400, "max_tokens"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 100000000000})", 400, "max_tokens"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": "5"})", 400, "max_tokens"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 1.5})", 400, "max_completion_tokens"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"})", 400, "temperature"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "temperature": 5})", 400, "temperature"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "top_p": 0})", 400, "top_p"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "n": 2})", 400, "n"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "stream": "yes"})", 400, "stream"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "stop": [1]})", 400, "stop"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "stop": ["a","b","c","d","e"]})", 400, "stop"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 3})", 400, "top_logprobs"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]})", 400, "tools"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "model": "gpt-5"})", 404, "model"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 510})", 400, "max_tokens"},
      {"/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", long_words}}}}}.dump(), 400, "messages"},
      {"/v1/completions", R"({"max_tokens": 4})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": ""})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": 12})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": [1, -2]})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": [999999999]})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": "x", "logprobs": 50})", 400, "logprobs"},
      {"/v1/completions", R"({"prompt": "x", "echo": true})", 400, "echo"},
      {"/v1/completions", R"({"prompt": "x", "seed": "abc"})", 400, "seed"},
      {"/v1/completions", R"({"prompt": "x", "stream_options": {"include_usage": true}})", 400, "stream_options"},
      {"/v1/completions", std::string(R"({"prompt": ")") + "\xff\xfe" + "\"}", 400, ""},
      {"/v1/completions", std::string(5000, '['), 400, ""},
  };
  for (const Bad& c : cases) {
    auto cli = srv_->client();
    auto r = cli.Post(c.path, c.body, "application/json");
    ASSERT_TRUE(r) << c.body.substr(0, 80);
    EXPECT_EQ(r->status, c.status) << c.body.substr(0, 120) << " -> " << r->body;
    json e = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(e.contains("error")) << r->body;
    for (const char* k : {"message", "type", "param", "code"}) EXPECT_TRUE(e["error"].contains(k)) << k;
    EXPECT_FALSE(e["error"]["message"].get<std::string>().empty());
    if (*c.param) {
      EXPECT_EQ(e["error"]["param"], c.param) << c.body.substr(0, 120) << " -> " << r->body;
    }
  }
  // A body over the limit (1 MiB by default) is 413 with the same error object.
  auto cli = srv_->client();
  auto r = cli.Post("/v1/completions", json{{"prompt", std::string(2 << 20, 'x')}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(json::parse(r->body, nullptr, false).contains("error")) << r->body;
  auto nf = cli.Get("/v1/nothing");
  ASSERT_TRUE(nf);
  EXPECT_EQ(nf->status, 404);
  EXPECT_TRUE(json::parse(nf->body, nullptr, false).contains("error"));
  ASSERT_TRUE(blocks_return(*srv_));
}

TEST(ServeAuth, BearerKeyOnAllButHealth) {
  ServerProc s({"--api-key", "sekrit", "--parallel", "2", "--ctx-size", "256"});
  ASSERT_TRUE(s.ready());
  auto c = s.client();
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  for (const char* p : {"/v1/models", "/metrics"}) {
    auto r = c.Get(p);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << p;
    EXPECT_EQ(json::parse(r->body)["error"]["type"], "authentication_error");
  }
  int st = 0;
  post(s, "/v1/completions", {{"prompt", "x"}, {"max_tokens", 2}}, &st, {{"Authorization", "Bearer wrong"}});
  EXPECT_EQ(st, 401);
  post(s, "/v1/completions", {{"prompt", "x"}, {"max_tokens", 2}}, &st);
  EXPECT_EQ(st, 401);
  json r = post(s, "/v1/completions", {{"prompt", "x"}, {"max_tokens", 2}}, &st, {{"Authorization", "Bearer sekrit"}});
  EXPECT_EQ(st, 200) << r.dump();
}

TEST(ServeQueue, FullQueueAnswers429AndBlocksReturn) {
  ServerProc s({"--parallel", "1", "--max-queue", "1", "--ctx-size", "2048"});
  ASSERT_TRUE(s.ready());
  json longreq = {{"prompt", "go"}, {"max_tokens", 1500}, {"ignore_eos", true}, {"stream", true}};
  std::atomic<bool> stop{false};
  auto hold = [&] {  // a streaming client that hangs up when told
    auto c = s.client();
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = longreq.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return !stop.load(); };
    c.send(req);
  };
  std::thread a(hold);
  for (int i = 0; i < 100 && metrics(s)["dsrt_running_sequences"] < 1; ++i) std::this_thread::sleep_for(20ms);
  std::thread b(hold);
  for (int i = 0; i < 100 && metrics(s)["dsrt_queue_depth"] < 1; ++i) std::this_thread::sleep_for(20ms);
  ASSERT_EQ(metrics(s)["dsrt_queue_depth"], 1);
  int st = 0;
  json r = post(s, "/v1/completions", {{"prompt", "x"}, {"max_tokens", 2}}, &st);
  EXPECT_EQ(st, 429) << r.dump();
  EXPECT_EQ(r["error"]["code"], "queue_full");
  stop = true;
  a.join();
  b.join();
  EXPECT_TRUE(blocks_return(s));
  auto m = metrics(s);
  EXPECT_EQ(m["dsrt_queue_depth"], 0);
  EXPECT_GE(m["dsrt_requests_total{outcome=\"rejected_queue_full\"}"], 1);
}

TEST(ServeReasoning, R1TemplateSplitsReasoningContent) {
  ServerProc s({"--chat-template", "deepseek-r1", "--parallel", "2", "--ctx-size", "256"});
  ASSERT_TRUE(s.ready());
  json b = chat("Why is the sky blue?", 10);
  b["ignore_eos"] = true;
  json r = post(s, "/v1/chat/completions", b);
  const json& msg = r["choices"][0]["message"];
  ASSERT_TRUE(msg.contains("reasoning_content")) << r.dump();
  // The prompt opens <think>; a random model never closes it, so everything is reasoning.
  EXPECT_FALSE(msg["reasoning_content"].get<std::string>().empty());
  EXPECT_EQ(msg["content"], "");
  b["stream"] = true;
  Streamed st = stream(s, "/v1/chat/completions", b);
  EXPECT_EQ(st.reasoning, msg["reasoning_content"].get<std::string>());
  EXPECT_EQ(st.text, "");
}

TEST(ServeTimeout, SlowRequestTimesOut) {
  ServerProc s({"--timeout", "0.3", "--parallel", "2", "--ctx-size", "4096"});
  ASSERT_TRUE(s.ready());
  int st = 0;
  json r = post(s, "/v1/completions", {{"prompt", "x"}, {"max_tokens", 4000}, {"ignore_eos", true}}, &st);
  EXPECT_EQ(st, 408) << r.dump();
  EXPECT_EQ(r["error"]["code"], "timeout");
  EXPECT_TRUE(blocks_return(s));
}

// Many clients at once, some hanging up mid-stream, some sending garbage: no crash (the
// destructor checks the exit status), every good request answered, every bad one a 4xx
// error, and no KV block leaked at the end.
TEST(ServeSoak, ConcurrentLoadWithDisconnectsAndBadRequests) {
  ServerProc s({"--parallel", "8", "--ctx-size", "256", "--max-batch-tokens", "128", "--kv-blocks", "40",
                "--block-size", "8"});
  ASSERT_TRUE(s.ready());
  server::LoadOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(s.port());
  o.concurrency = 8;
  o.requests = 200;
  o.prompt_len = 24;
  o.gen_len = 16;
  o.disconnect_frac = 0.15;
  o.bad_frac = 0.1;
  o.seed = 11;
  auto rep = server::run_load(o);
  ASSERT_TRUE(rep.ok()) << rep.status().message();
  const server::LoadReport& r = rep.value();
  std::string errs;
  for (auto& e : r.errors) errs += e + "\n";
  EXPECT_EQ(r.failed, 0) << errs;
  EXPECT_EQ(r.bad_answered, r.bad_sent) << errs;
  EXPECT_EQ(r.completed + r.disconnected + r.bad_sent, 200);
  EXPECT_EQ(r.output_tokens, int64_t(r.completed) * 16);
  EXPECT_GT(r.disconnected, 0);
  EXPECT_TRUE(blocks_return(s));
  auto m = metrics(s);
  EXPECT_EQ(m["dsrt_kv_blocks_free"], 40);
  EXPECT_EQ(m["dsrt_requests_total{outcome=\"error\"}"], 0);
}

// The load generator's length distributions: in range, with the moments they promise, and a
// clear error for a mean outside (min, max).
TEST(LoadGen, GenerationLengthDistributions) {
  server::LoadOptions o;
  o.requests = 20000;
  o.gen_len = 512;
  o.gen_len_min = 4;
  auto stats = [](const std::vector<int>& v) {
    double m = 0, q = 0;
    for (int x : v) m += x;
    m /= double(v.size());
    for (int x : v) q += (x - m) * (x - m);
    return std::pair<double, double>{m, std::sqrt(q / double(v.size()))};
  };
  auto u = server::gen_lengths(o);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(*std::min_element(u.value().begin(), u.value().end()), 4);
  EXPECT_EQ(*std::max_element(u.value().begin(), u.value().end()), 512);
  // Uniform on 4..512: mean 258, standard deviation 509 / sqrt(12) = 146.9; 20000 draws put
  // the sample mean within 3 sd / sqrt(n) = 3.1 of it.
  EXPECT_NEAR(stats(u.value()).first, 258.0, 4.0);
  o.gen_len_dist = "exp";
  o.gen_len_mean = 64;
  auto e = server::gen_lengths(o);
  ASSERT_TRUE(e.ok());
  EXPECT_GE(*std::min_element(e.value().begin(), e.value().end()), 4);
  EXPECT_LE(*std::max_element(e.value().begin(), e.value().end()), 512);
  // 4 + Exp(mean 60), truncated at 512 (a tail of e^-7.5, 0.06%): mean 64 and standard
  // deviation 60, each within 1.5 (3 sd / sqrt(n) is 1.3 for the mean).
  const auto [mean, sd] = stats(e.value());
  EXPECT_NEAR(mean, 64.0, 1.5);
  EXPECT_NEAR(sd, 60.0, 1.5);
  o.gen_len_mean = 600;
  auto bad = server::gen_lengths(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--gen-len-mean"), std::string::npos);
  o.gen_len_dist = "zipf";
  EXPECT_FALSE(server::gen_lengths(o).ok());
}

}  // namespace
}  // namespace dsrt
