#include "runtime/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace dsrt {
namespace {

// log-softmax of one row into out; returns the argmax.
int32_t log_softmax(const float* x, int64_t n, std::vector<double>& out) {
  out.resize(size_t(n));
  int32_t arg = 0;
  double mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i)
    if (x[i] > mx) {
      mx = x[i];
      arg = int32_t(i);
    }
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(x[i]) - mx);
  const double lse = mx + std::log(sum);
  for (int64_t i = 0; i < n; ++i) out[i] = double(x[i]) - lse;
  return arg;
}

}  // namespace

Result<PerplexityResult> compute_perplexity(Model& model, const std::vector<int32_t>& tokens,
                                            const PerplexityOptions& o, Model* base,
                                            const std::function<void(int, int, double)>& progress) {
  if (o.n_ctx < 4) return Status::Error("--ctx must be at least 4");
  if (o.n_batch < 1) return Status::Error("--batch must be positive");
  const int64_t V = model.config().vocab_size;
  if (base && base->config().vocab_size != V)
    return Status::Error("the base model's vocabulary (" + std::to_string(base->config().vocab_size) +
                         ") differs from the model's (" + std::to_string(V) + ")");
  int n_chunks = int(tokens.size() / size_t(o.n_ctx));
  if (o.n_chunks >= 0) n_chunks = std::min(n_chunks, o.n_chunks);
  if (n_chunks == 0)
    return Status::Error("the text has " + std::to_string(tokens.size()) + " tokens; at least " +
                         std::to_string(o.n_ctx) + " (one chunk of --ctx) are needed");
  const auto t0 = std::chrono::steady_clock::now();
  PerplexityResult r;
  r.has_base = base != nullptr;
  double nll_sum = 0, nll_sq = 0, base_nll = 0, kld_sum = 0, kld_sq = 0;
  int64_t agree = 0;
  std::vector<double> lp, lpb;
  const int first = o.n_ctx / 2;
  for (int c = 0; c < n_chunks; ++c) {
    std::vector<int32_t> chunk(tokens.begin() + int64_t(c) * o.n_ctx, tokens.begin() + int64_t(c + 1) * o.n_ctx);
    if (o.bos_id >= 0) chunk[0] = o.bos_id;
    DSRT_ASSIGN_OR_RETURN(auto cache, model.new_cache(o.n_ctx));
    std::unique_ptr<KvCache> bcache;
    if (base) {
      DSRT_ASSIGN_OR_RETURN(bcache, base->new_cache(o.n_ctx));
    }
    for (int b0 = 0; b0 < o.n_ctx; b0 += o.n_batch) {
      const int nb = std::min(o.n_batch, o.n_ctx - b0);
      std::span<const int32_t> part(chunk.data() + b0, size_t(nb));
      DSRT_ASSIGN_OR_RETURN(Tensor lg, model.forward({{cache.get(), part, true}}));
      Tensor blg;
      if (base) {
        DSRT_ASSIGN_OR_RETURN(blg, base->forward({{bcache.get(), part, true}}));
      }
      for (int i = 0; i < nb; ++i) {
        const int j = b0 + i;  // logits at j predict chunk[j + 1]
        if (j < first || j >= o.n_ctx - 1) continue;
        const int32_t next = chunk[j + 1];
        const int32_t am = log_softmax(lg.f32() + int64_t(i) * V, V, lp);
        const double nll = -lp[next];
        nll_sum += nll;
        nll_sq += nll * nll;
        ++r.n_scored;
        if (base) {
          const int32_t amb = log_softmax(blg.f32() + int64_t(i) * V, V, lpb);
          base_nll += -lpb[next];
          double kld = 0;
          for (int64_t v = 0; v < V; ++v) kld += std::exp(lpb[v]) * (lpb[v] - lp[v]);
          kld = std::max(kld, 0.0);  // rounding can make a zero divergence slightly negative
          kld_sum += kld;
          kld_sq += kld * kld;
          r.kld_max = std::max(r.kld_max, kld);
          agree += am == amb;
        }
      }
    }
    ++r.n_chunks;
    if (progress) progress(c + 1, n_chunks, std::exp(nll_sum / double(r.n_scored)));
  }
  const double n = double(r.n_scored);
  r.nll = nll_sum / n;
  r.ppl = std::exp(r.nll);
  const double var = std::max(nll_sq / n - r.nll * r.nll, 0.0);
  r.ppl_err = r.ppl * std::sqrt(var / std::max(n - 1, 1.0));
  if (base) {
    r.base_ppl = std::exp(base_nll / n);
    r.kld_mean = kld_sum / n;
    r.kld_err = std::sqrt(std::max(kld_sq / n - r.kld_mean * r.kld_mean, 0.0) / std::max(n - 1, 1.0));
    r.top1_agree = double(agree) / n;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace dsrt
