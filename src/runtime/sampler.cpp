#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace dsrt {

namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

Status bad(const std::string& field, const std::string& what, double got) {
  return Status::Error("sampler: " + field + " " + what + ", got " + num(got));
}

// A uniform double in [0, 1) from the top 53 bits of one raw 64-bit output: every value is a
// multiple of 2^-53, exactly representable, and identical on every platform.
double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

}  // namespace

Result<Sampler> Sampler::create(const SamplerParams& p, int32_t n_vocab) {
  if (n_vocab <= 0) return bad("n_vocab", "must be > 0", n_vocab);
  if (!std::isfinite(p.temperature) || p.temperature < 0.0f)
    return bad("temperature", "must be finite and >= 0 (0 = greedy)", p.temperature);
  if (p.top_k < 0) return bad("top_k", "must be >= 0 (0 = off)", p.top_k);
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
    return bad("top_p", "must be in (0, 1] (1 = off)", p.top_p);
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f))
    return bad("min_p", "must be in [0, 1] (0 = off)", p.min_p);
  if (!std::isfinite(p.repetition_penalty) || p.repetition_penalty <= 0.0f)
    return bad("repetition_penalty", "must be finite and > 0 (1 = off)", p.repetition_penalty);
  if (!std::isfinite(p.presence_penalty))
    return bad("presence_penalty", "must be finite", p.presence_penalty);
  if (!std::isfinite(p.frequency_penalty))
    return bad("frequency_penalty", "must be finite", p.frequency_penalty);
  if (p.penalty_last_n < -1)
    return bad("penalty_last_n", "must be >= -1 (0 = off, -1 = whole history)", p.penalty_last_n);
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= n_vocab)
      return Status::Error("sampler: logit_bias token id " + std::to_string(id) +
                           " is outside the vocabulary [0, " + std::to_string(n_vocab) + ")");
    if (!std::isfinite(bias))
      return Status::Error("sampler: logit_bias for token " + std::to_string(id) +
                           " must be finite, got " + num(bias));
  }
  if (p.n_logprobs < 0 || p.n_logprobs > n_vocab)
    return Status::Error("sampler: n_logprobs must be in [0, n_vocab=" + std::to_string(n_vocab) +
                         "], got " + std::to_string(p.n_logprobs));
  return Sampler(p, n_vocab);
}

Sampler::Sampler(const SamplerParams& params, int32_t n_vocab)
    : params_(params), n_vocab_(n_vocab), rng_(params.seed) {
  work_.resize(n_vocab);
  candidates_.reserve(n_vocab);
  scratch_.reserve(n_vocab);
}

void Sampler::reset() {
  history_.clear();
  rng_.seed(params_.seed);
}

void Sampler::accept(int32_t token) {
  DSRT_CHECK_MSG(token >= 0 && token < n_vocab_,
                 "sampler: accepted token " + std::to_string(token) + " outside vocabulary");
  const int last_n = params_.penalty_last_n;
  if (last_n == 0) return;
  history_.push_back(token);
  if (last_n > 0 && history_.size() > static_cast<size_t>(last_n)) history_.pop_front();
}

void Sampler::apply_bias_and_penalties(const float* logits) {
  for (int32_t i = 0; i < n_vocab_; ++i) {
    // NaN would break the strict ordering nth_element/sort rely on; it can only come from a
    // broken model, so it is an invariant check rather than an error value.
    DSRT_CHECK_MSG(!std::isnan(logits[i]), "sampler: logit " + std::to_string(i) + " is NaN");
    work_[i] = logits[i];
  }
  for (const auto& [id, bias] : params_.logit_bias) work_[id] += bias;

  const float rep = params_.repetition_penalty;
  const float presence = params_.presence_penalty;
  const float frequency = params_.frequency_penalty;
  if (history_.empty() || (rep == 1.0f && presence == 0.0f && frequency == 0.0f)) return;

  // Count each distinct token of the window once: sort a copy and walk the runs.
  window_.assign(history_.begin(), history_.end());
  std::sort(window_.begin(), window_.end());
  for (size_t i = 0; i < window_.size();) {
    size_t j = i;
    while (j < window_.size() && window_[j] == window_[i]) ++j;
    const int32_t token = window_[i];
    const float count = static_cast<float>(j - i);
    float& x = work_[token];
    // Dividing a positive logit and multiplying a negative one both lower it when rep > 1
    // (plain division would raise a negative logit).
    if (rep != 1.0f) x = x > 0.0f ? x / rep : x * rep;
    x -= presence + frequency * count;
    i = j;
  }
}

int32_t Sampler::argmax() const {
  // The best value is kept in a register: indexing work_[best] in the loop would make every
  // comparison wait on the previous one's load.
  int32_t best = 0;
  float best_logit = work_[0];
  for (int32_t i = 1; i < n_vocab_; ++i) {
    if (work_[i] > best_logit) {  // strict: ties keep the lower id
      best_logit = work_[i];
      best = i;
    }
  }
  return best;
}

void Sampler::keep_until(const Candidate& last) {
  // A stable compaction, so the survivors stay in id order whatever order the selection that
  // found `last` left scratch_ in.
  size_t out = 0;
  for (const Candidate& c : candidates_)
    if (!Before()(last, c)) candidates_[out++] = c;
  candidates_.resize(out);
}

namespace {

// Weighted selection: reorders v and returns the element at which the running sum of weights,
// taken in Before order, first reaches `target`. Quickselect on the mass instead of the
// count: each round partitions the unresolved range around a pivot and keeps only the side
// holding the boundary, so it costs O(n) expected instead of the O(n log n) of a full sort.
// If rounding keeps the sum just short of target, the last element in Before order is
// returned (nothing is cut).
template <class Candidate, class Before>
Candidate select_by_mass(std::vector<Candidate>& v, double target) {
  const Before before;
  size_t lo = 0, hi = v.size();
  double need = target;  // mass still needed from v[lo, hi); v[0, lo) is all kept
  while (true) {
    if (hi - lo <= 32) {
      std::sort(v.begin() + lo, v.begin() + hi, before);
      for (size_t i = lo; i < hi; ++i) {
        need -= v[i].weight;
        if (need <= 0.0) return v[i];
      }
      return v[hi - 1];
    }
    // Median of three by the total order, so a sorted input does not degrade the selection.
    Candidate x = v[lo], y = v[lo + (hi - lo) / 2], z = v[hi - 1];
    if (before(y, x)) std::swap(x, y);
    if (before(z, y)) std::swap(y, z);
    if (before(y, x)) std::swap(x, y);
    const Candidate pivot = y;
    const auto first = v.begin() + lo, last = v.begin() + hi;
    const auto mid =
        std::partition(first, last, [&](const Candidate& c) { return before(c, pivot); });
    double mass = 0.0;
    for (auto it = first; it != mid; ++it) mass += it->weight;
    if (mass >= need) {  // the boundary is among the elements better than the pivot
      hi = static_cast<size_t>(mid - v.begin());
      continue;
    }
    need -= mass;
    // The pivot is the best of [mid, last): put it first there and take it.
    std::iter_swap(mid,
                   std::find_if(mid, last, [&](const Candidate& c) { return c.id == pivot.id; }));
    need -= pivot.weight;
    if (need <= 0.0) return pivot;
    lo = static_cast<size_t>(mid - v.begin()) + 1;
  }
}

}  // namespace

int32_t Sampler::draw() {
  const int32_t n = n_vocab_;
  candidates_.resize(n);
  for (int32_t i = 0; i < n; ++i) candidates_[i] = {work_[i], i, 0.0};

  // top-k: an O(n) selection puts the k best (a unique set under the total order) first;
  // sorting just those k by id restores the deterministic id order.
  const int top_k = params_.top_k;
  if (top_k > 0 && top_k < n) {
    scratch_ = candidates_;
    std::nth_element(scratch_.begin(), scratch_.begin() + (top_k - 1), scratch_.end(), Before());
    candidates_.assign(scratch_.begin(), scratch_.begin() + top_k);
    std::sort(candidates_.begin(), candidates_.end(),
              [](const Candidate& x, const Candidate& y) { return x.id < y.id; });
  }

  float max_logit = -std::numeric_limits<float>::infinity();
  for (const Candidate& c : candidates_) max_logit = std::max(max_logit, c.logit);

  // Relative weights exp((x - max) / T): softmax without the normalisation, which the draw
  // does not need. The equality guard keeps this finite when max is +-inf (every tie with max
  // weighs 1, the rest 0).
  const double inv_t = 1.0 / static_cast<double>(params_.temperature);
  double total = 0.0;
  for (Candidate& c : candidates_) {
    c.weight = c.logit == max_logit ? 1.0 : std::exp((double(c.logit) - double(max_logit)) * inv_t);
    total += c.weight;
  }

  // top-p: the smallest best-first prefix holding at least top_p of the mass. The sums that
  // decide the boundary run in an order the partition picks, so across standard libraries
  // the cut could differ only where the prefix mass equals top_p to ~1e-16.
  if (params_.top_p < 1.0f) {
    scratch_ = candidates_;
    const Candidate last =
        select_by_mass<Candidate, Before>(scratch_, static_cast<double>(params_.top_p) * total);
    keep_until(last);
  }

  // min-p: keep p >= min_p * p_max, i.e. weight >= min_p since the best weighs 1.
  if (params_.min_p > 0.0f) {
    const double min_p = params_.min_p;
    size_t out = 0;
    for (const Candidate& c : candidates_)
      if (c.weight >= min_p) candidates_[out++] = c;
    candidates_.resize(out);
  }

  if (params_.top_p < 1.0f || params_.min_p > 0.0f) {
    total = 0.0;
    for (const Candidate& c : candidates_) total += c.weight;
  }

  // Inverse CDF over the survivors in id order. Exactly one RNG output per non-greedy call,
  // so a run's randomness depends only on the number of calls.
  const double target = uniform01(rng_) * total;
  double cum = 0.0;
  int32_t last_positive = candidates_.front().id;
  for (const Candidate& c : candidates_) {
    if (c.weight <= 0.0) continue;
    cum += c.weight;
    last_positive = c.id;
    if (target < cum) return c.id;
  }
  return last_positive;  // target rounded up to total
}

void Sampler::fill_info(int32_t token, SampleInfo* info) {
  // log-softmax over the whole vocabulary of the biased, penalised logits (no temperature).
  double max_logit = -std::numeric_limits<double>::infinity();
  for (int32_t i = 0; i < n_vocab_; ++i) max_logit = std::max(max_logit, double(work_[i]));
  double sum = 0.0;
  for (int32_t i = 0; i < n_vocab_; ++i)
    sum += work_[i] == max_logit ? 1.0 : std::exp(double(work_[i]) - max_logit);
  const double lse = std::isfinite(max_logit) ? max_logit + std::log(sum) : max_logit;
  const auto logprob = [&](int32_t id) {
    return std::isfinite(max_logit) ? static_cast<float>(double(work_[id]) - lse) : 0.0f;
  };

  info->token = token;
  info->logprob = logprob(token);
  info->top_logprobs.clear();
  const int n_top = params_.n_logprobs;
  if (n_top == 0) return;
  scratch_.resize(n_vocab_);
  for (int32_t i = 0; i < n_vocab_; ++i) scratch_[i] = {work_[i], i, 0.0};
  if (n_top < n_vocab_)
    std::nth_element(scratch_.begin(), scratch_.begin() + n_top, scratch_.end(), Before());
  std::sort(scratch_.begin(), scratch_.begin() + n_top, Before());
  info->top_logprobs.reserve(n_top);
  for (int i = 0; i < n_top; ++i)
    info->top_logprobs.push_back({scratch_[i].id, logprob(scratch_[i].id)});
}

int32_t Sampler::sample(const float* logits, SampleInfo* info) {
  apply_bias_and_penalties(logits);
  const int32_t token = params_.temperature == 0.0f ? argmax() : draw();
  if (info != nullptr) fill_info(token, info);
  return token;
}

}  // namespace dsrt
