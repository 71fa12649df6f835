// Sampler: turns one row of logits into a token id.
//
// The chain, in order (each stage is skipped when its parameter is neutral):
//   logit bias -> repetition / presence / frequency penalties -> top-k -> temperature
//   -> softmax -> top-p -> min-p -> draw.
// temperature == 0 means greedy: the argmax of the biased, penalised logits (ties go to the
// lowest id), with top-k/top-p/min-p ignored since none of them can change the argmax.
//
// Determinism: the same seed and the same logits give the same tokens on every platform. The
// RNG is std::mt19937_64 (its output sequence is fixed by the standard); the uniform is built
// from the top 53 bits of its raw output, not std::uniform_real_distribution, whose algorithm
// is implementation-defined; candidates are ordered by a strict total order (logit descending,
// then id ascending) so nth_element/sort results do not depend on the standard library.
// The one remaining platform dependence is the last ulp of std::exp.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <utility>
#include <vector>

#include "core/status.h"

namespace dsrt {

struct SamplerParams {
  float temperature = 1.0f;  // 0 = greedy; must be >= 0
  int top_k = 0;             // 0 (or >= n_vocab) = off
  float top_p = 1.0f;        // in (0, 1]; 1 = off
  float min_p = 0.0f;        // in [0, 1]; 0 = off
  // CTRL (Keskar et al. 2019) / llama.cpp style: positive logits of seen tokens are divided by
  // it, negative ones multiplied. 1 = off; must be > 0.
  float repetition_penalty = 1.0f;
  // OpenAI style: logit -= presence_penalty * [count > 0] + frequency_penalty * count.
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // How many of the most recent accepted tokens the penalties look at; 0 = penalties off,
  // -1 = the whole history since reset().
  int penalty_last_n = 64;
  uint64_t seed = 0;
  // Added to the logit of each id before anything else (OpenAI logit_bias). Ids must be in
  // [0, n_vocab); values must be finite (use e.g. -100 to ban a token). Repeated ids add up.
  std::vector<std::pair<int32_t, float>> logit_bias;
  // How many top alternatives SampleInfo::top_logprobs holds, in [0, n_vocab].
  int n_logprobs = 0;
};

struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0.0f;
};

// Log-probabilities are the log-softmax of the logits after logit bias and penalties, but
// before temperature and truncation (top-k/top-p/min-p): the model's own distribution as
// adjusted by the request, which is what OpenAI's logprobs report. They therefore do not
// depend on temperature, and a token chosen by sampling always has a finite logprob.
struct SampleInfo {
  int32_t token = -1;
  float logprob = 0.0f;
  std::vector<TokenLogprob> top_logprobs;  // n_logprobs entries, most likely first
};

class Sampler {
 public:
  // Validates params against n_vocab; the error names the offending field.
  static Result<Sampler> create(const SamplerParams& params, int32_t n_vocab);

  // Picks a token from logits[n_vocab]. Does not record it: call accept() with the token
  // actually appended to the sequence (which may come from elsewhere, e.g. the prompt).
  // Logits must not be NaN (checked; a NaN is a model bug); -inf is allowed.
  int32_t sample(const float* logits, SampleInfo* info = nullptr);

  // Records a token in the history the penalties look at.
  void accept(int32_t token);

  // Forgets the history and re-seeds the RNG, so a reset sampler repeats its first run.
  void reset();

  const SamplerParams& params() const { return params_; }
  int32_t n_vocab() const { return n_vocab_; }

 private:
  struct Candidate {
    float logit;
    int32_t id;
    double weight;  // exp((logit - max) / T) once computed, so the best weighs exactly 1
  };
  // Strict total order: higher logit first, then lower id. Selections made with it have a
  // unique answer, so results never depend on how the library arranges ties.
  struct Before {
    bool operator()(const Candidate& a, const Candidate& b) const {
      return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    }
  };

  Sampler(const SamplerParams& params, int32_t n_vocab);

  void apply_bias_and_penalties(const float* logits);  // logits -> work_
  int32_t argmax() const;                              // over work_
  int32_t draw();                                      // top-k .. draw over work_
  // Keeps the candidates that come no later than `last` in the Before order.
  void keep_until(const Candidate& last);
  void fill_info(int32_t token, SampleInfo* info);  // logprobs from work_

  SamplerParams params_;
  int32_t n_vocab_ = 0;
  std::mt19937_64 rng_;
  std::deque<int32_t> history_;  // the last penalty_last_n accepted tokens (all when -1)

  // Scratch buffers reused between calls so that sampling does not allocate.
  std::vector<float> work_;            // {n_vocab} biased, penalised logits
  std::vector<Candidate> candidates_;  // surviving candidates, always in id order
  std::vector<Candidate> scratch_;     // reordered copy used to find truncation thresholds
  std::vector<int32_t> window_;        // sorted copy of the penalty window
};

}  // namespace dsrt
