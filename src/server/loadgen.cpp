#include "server/loadgen.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <random>
#include <thread>

#include "server/api.h"

namespace dsrt::server {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

struct Sample {
  bool ok = false;
  double ttft = 0, e2e = 0, tpot = -1;
  int n_out = 0, n_prompt = 0;
  std::vector<double> itl;
};

// The kinds of bad request the soak mix sends; every one must get a 4xx JSON error.
const char* kBadBodies[] = {
    "{not json",
    R"({"prompt": 12})",
    R"({"prompt": ""})",
    R"({"prompt": "hi", "max_tokens": -3})",
    R"({"prompt": "hi", "n": 3})",
    R"({"prompt": "hi", "temperature": "hot"})",
    R"({"prompt": "hi", "model": "no-such-model"})",
    R"([1, 2, 3])",
};

}  // namespace

Summary summarize(std::vector<double> v) {
  Summary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / double(v.size());
  // Linear interpolation between closest ranks (numpy's default percentile).
  auto pct = [&](double p) {
    const double r = p / 100.0 * double(v.size() - 1);
    const size_t lo = size_t(std::floor(r)), hi = std::min(v.size() - 1, lo + 1);
    return v[lo] + (v[hi] - v[lo]) * (r - double(lo));
  };
  s.p50 = pct(50);
  s.p90 = pct(90);
  s.p99 = pct(99);
  return s;
}

json LoadReport::to_json() const {
  auto sj = [](const Summary& s) { return json{{"mean", s.mean}, {"p50", s.p50}, {"p90", s.p90}, {"p99", s.p99}}; };
  return {{"completed", completed},
          {"failed", failed},
          {"disconnected", disconnected},
          {"bad_sent", bad_sent},
          {"bad_answered", bad_answered},
          {"prompt_tokens", prompt_tokens},
          {"output_tokens", output_tokens},
          {"duration_s", duration_s},
          {"request_throughput", request_throughput},
          {"output_throughput", output_throughput},
          {"goodput", goodput},
          {"ttft_ms", sj(ttft_ms)},
          {"tpot_ms", sj(tpot_ms)},
          {"itl_ms", sj(itl_ms)},
          {"e2e_ms", sj(e2e_ms)},
          {"errors", errors}};
}

Result<std::vector<int>> gen_lengths(const LoadOptions& o) {
  if (o.gen_len < 1) return Status::Error("--gen-len must be >= 1");
  if (o.gen_len_min < 0 || o.gen_len_min > o.gen_len)
    return Status::Error("--gen-len-min must be in 1..--gen-len");
  if (o.gen_len_dist != "uniform" && o.gen_len_dist != "exp")
    return Status::Error("--gen-len-dist must be uniform or exp, not '" + o.gen_len_dist + "'");
  std::vector<int> len(size_t(std::max(0, o.requests)), o.gen_len);
  // Its own stream (seed + 1), so the lengths do not depend on the other per-request draws.
  std::mt19937_64 rng(o.seed + 1);
  if (o.gen_len_dist == "exp") {
    const double mean = o.gen_len_mean > 0 ? o.gen_len_mean : (o.gen_len_min + o.gen_len) / 4.0;
    if (o.gen_len_min < 1 || mean <= o.gen_len_min || mean >= o.gen_len)
      return Status::Error("--gen-len-dist exp needs --gen-len-min >= 1 and --gen-len-min < --gen-len-mean < --gen-len");
    std::exponential_distribution<double> ex(1.0 / (mean - o.gen_len_min));
    for (int& l : len) {
      double v;
      do v = o.gen_len_min + std::round(ex(rng));
      while (v > o.gen_len);
      l = int(v);
    }
  } else if (o.gen_len_min > 0 && o.gen_len_min < o.gen_len) {
    std::uniform_int_distribution<int> ud(o.gen_len_min, o.gen_len);
    for (int& l : len) l = ud(rng);
  }
  return len;
}

Result<LoadReport> run_load(const LoadOptions& o) {
  if (o.concurrency < 1 || o.requests < 1) return Status::Error("--concurrency and --requests must be >= 1");
  if (o.prompt_len < 1) return Status::Error("--prompt-len must be >= 1");
  DSRT_ASSIGN_OR_RETURN(const std::vector<int> glen, gen_lengths(o));
  {
    httplib::Client probe(o.url);
    if (!probe.is_valid()) return Status::Error("bad --url '" + o.url + "'");
  }
  // Arrival schedule (seconds after start) and per-request choices, fixed by the seed.
  std::mt19937_64 rng(o.seed);
  std::vector<double> at(size_t(o.requests), 0.0);
  if (o.rate > 0) {
    std::exponential_distribution<double> gap(o.rate);
    double t = 0;
    for (auto& a : at) a = (t += gap(rng));
  }
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<int> kind(size_t(o.requests), 0);  // 0 good, 1 disconnect, 2 bad
  std::vector<int> cut(size_t(o.requests), 0);   // chunks to read before hanging up
  for (int i = 0; i < o.requests; ++i) {
    const double x = u(rng);
    kind[size_t(i)] = x < o.bad_frac ? 2 : x < o.bad_frac + o.disconnect_frac ? 1 : 0;
    cut[size_t(i)] = 1 + int(u(rng) * std::max(1, o.gen_len / 2));
  }
  std::vector<Sample> samples(size_t(o.requests));
  std::mutex mu;
  LoadReport rep;
  std::atomic<int> next{0};
  const auto t0 = Clock::now();
  auto worker = [&](uint64_t wseed) {
    std::mt19937_64 wr(wseed);
    std::uniform_int_distribution<int32_t> tokd(100, 100 + std::max(1, o.vocab) - 1);
    httplib::Client cli(o.url);
    cli.set_read_timeout(std::chrono::seconds(int64_t(o.timeout_s)));
    cli.set_connection_timeout(std::chrono::seconds(10));
    httplib::Headers hdr;
    if (!o.api_key.empty()) hdr.emplace("Authorization", "Bearer " + o.api_key);
    for (;;) {
      const int i = next++;
      if (i >= o.requests) return;
      const auto sched = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(at[size_t(i)]));
      if (o.rate > 0) std::this_thread::sleep_until(sched);
      const auto send = o.rate > 0 ? sched : Clock::now();
      Sample& s = samples[size_t(i)];
      if (kind[size_t(i)] == 2) {
        auto r = cli.Post("/v1/completions", hdr, kBadBodies[size_t(i) % std::size(kBadBodies)], "application/json");
        std::lock_guard<std::mutex> lk(mu);
        ++rep.bad_sent;
        if (r && r->status >= 400 && r->status < 500 && json::parse(r->body, nullptr, false).contains("error"))
          ++rep.bad_answered;
        else if (rep.errors.size() < 10)
          rep.errors.push_back("bad request " + std::to_string(i) + " got " + (r ? std::to_string(r->status) : httplib::to_string(r.error())));
        continue;
      }
      json prompt = json::array();
      for (int k = 0; k < o.shared_prefix; ++k) prompt.push_back(100 + (k * 7919) % o.vocab);
      for (int k = 0; k < o.prompt_len; ++k) prompt.push_back(tokd(wr));
      const json body = {{"prompt", prompt},          {"max_tokens", glen[size_t(i)]}, {"ignore_eos", true},
                         {"temperature", 0.0},        {"stream", true},          {"stream_options", {{"include_usage", true}}}};
      httplib::Request req;
      req.method = "POST";
      req.path = "/v1/completions";
      req.headers = hdr;
      req.body = dump(body);
      req.set_header("Content-Type", "application/json");
      std::string buf;
      int chunks = 0;
      bool first = true, hung_up = false;
      Clock::time_point last;
      std::string err;
      req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        buf.append(data, n);
        size_t p;
        while ((p = buf.find("\n\n")) != std::string::npos) {
          std::string ev = buf.substr(0, p);
          buf.erase(0, p + 2);
          if (ev.rfind("data: ", 0) != 0) continue;  // comments (keep-alive)
          const std::string d = ev.substr(6);
          if (d == "[DONE]") continue;
          json j = json::parse(d, nullptr, false);
          if (j.is_discarded()) continue;
          if (j.contains("error")) {
            err = dump(j["error"]);
            continue;
          }
          if (j.contains("usage") && j["usage"].is_object()) {
            s.n_out = j["usage"].value("completion_tokens", 0);
            s.n_prompt = j["usage"].value("prompt_tokens", 0);
          }
          if (!j.contains("choices") || j["choices"].empty()) continue;
          const json& c = j["choices"][0];
          if (!c.contains("text") || !c["text"].is_string() || (c["text"].get<std::string>().empty() && !c["finish_reason"].is_null()))
            continue;
          const auto now = Clock::now();
          if (first) {
            s.ttft = ms_since(send, now);
            first = false;
          } else {
            s.itl.push_back(ms_since(last, now));
          }
          last = now;
          ++chunks;
          if (kind[size_t(i)] == 1 && chunks >= cut[size_t(i)]) {
            hung_up = true;
            return false;  // the client goes away mid-stream
          }
        }
        return true;
      };
      auto r = cli.send(req);
      const auto end = Clock::now();
      std::lock_guard<std::mutex> lk(mu);
      if (hung_up) {
        ++rep.disconnected;
        continue;
      }
      if (!r || r->status != 200 || !err.empty() || s.n_out == 0) {
        ++rep.failed;
        if (rep.errors.size() < 10)
          rep.errors.push_back("request " + std::to_string(i) + ": " +
                               (!r ? httplib::to_string(r.error()) : "HTTP " + std::to_string(r->status) + " " + r->body + err));
        continue;
      }
      s.ok = true;
      s.e2e = ms_since(send, end);
      if (s.n_out > 1) s.tpot = (s.e2e - s.ttft) / double(s.n_out - 1);
    }
  };
  std::vector<std::thread> ts;
  for (int w = 0; w < o.concurrency; ++w) ts.emplace_back(worker, o.seed * 1000003 + uint64_t(w));
  for (auto& t : ts) t.join();
  rep.duration_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> ttft, tpot, itl, e2e;
  int good = 0;
  for (const Sample& s : samples) {
    if (!s.ok) continue;
    ++rep.completed;
    rep.output_tokens += s.n_out;
    rep.prompt_tokens += s.n_prompt;
    ttft.push_back(s.ttft);
    e2e.push_back(s.e2e);
    if (s.tpot >= 0) tpot.push_back(s.tpot);
    itl.insert(itl.end(), s.itl.begin(), s.itl.end());
    const bool meets = (o.slo_ttft_ms <= 0 || s.ttft <= o.slo_ttft_ms) && (o.slo_tpot_ms <= 0 || s.tpot <= o.slo_tpot_ms);
    good += meets;
  }
  rep.request_throughput = rep.completed / rep.duration_s;
  rep.output_throughput = double(rep.output_tokens) / rep.duration_s;
  rep.goodput = good / rep.duration_s;
  rep.ttft_ms = summarize(ttft);
  rep.tpot_ms = summarize(tpot);
  rep.itl_ms = summarize(itl);
  rep.e2e_ms = summarize(e2e);
  return rep;
}

}  // namespace dsrt::server
