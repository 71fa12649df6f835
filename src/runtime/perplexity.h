// Perplexity and KL divergence over a token stream, computed the way llama.cpp's perplexity
// tool does so numbers compare: the text is cut into chunks of n_ctx tokens, each chunk runs
// from an empty cache (its first token replaced by BOS when add_bos), and only the second half
// of each chunk is scored (every scored token has at least n_ctx/2 tokens of context).
#pragma once

#include <functional>
#include <vector>

#include "models/model.h"

namespace dsrt {

struct PerplexityOptions {
  int n_ctx = 512;
  int n_chunks = -1;       // -1 = every full chunk of the text
  int n_batch = 512;       // tokens per forward call within a chunk
  int32_t bos_id = -1;     // >= 0: the first token of each chunk becomes BOS
};

struct PerplexityResult {
  int n_chunks = 0;
  int64_t n_scored = 0;
  double nll = 0;          // mean negative log-likelihood (nats)
  double ppl = 0, ppl_err = 0;  // exp(nll) and its standard error (delta method)
  // Against a base model (KL(base || model) per token, natural log):
  bool has_base = false;
  double base_ppl = 0;
  double kld_mean = 0, kld_err = 0, kld_max = 0;
  double top1_agree = 0;   // fraction of scored positions where both argmaxes agree
  double seconds = 0;
};

// `progress(chunk, n_chunks, running_ppl)` is called after each chunk (may be empty).
Result<PerplexityResult> compute_perplexity(
    Model& model, const std::vector<int32_t>& tokens, const PerplexityOptions& opt,
    Model* base = nullptr, const std::function<void(int, int, double)>& progress = nullptr);

}  // namespace dsrt
