#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "runtime/sampler.h"

namespace dsrt {
namespace {

Sampler make(const SamplerParams& p, int32_t n_vocab) {
  auto r = Sampler::create(p, n_vocab);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return std::move(r).value();
}

std::vector<float> random_logits(int n, uint64_t seed, float scale = 3.0f) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(n);
  // Not via std distributions (implementation-defined); a crude symmetric value is enough.
  for (float& x : v) x = scale * (static_cast<float>(rng() >> 40) / float(1 << 24) - 0.5f) * 2;
  return v;
}

// Exact reference for the stochastic chain, written independently of the sampler: full sort,
// top-k, softmax at temperature T, top-p prefix, min-p, renormalise. Returns id -> probability.
std::map<int32_t, double> reference_probs(const std::vector<float>& logits, float temperature,
                                          int top_k, float top_p, float min_p) {
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  if (top_k > 0 && top_k < static_cast<int>(order.size())) order.resize(top_k);
  std::vector<double> p(order.size());
  double sum = 0;
  for (size_t i = 0; i < order.size(); ++i)
    sum += p[i] = std::exp((double(logits[order[i]]) - logits[order[0]]) / temperature);
  for (double& x : p) x /= sum;
  size_t keep = order.size();
  double cum = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    cum += p[i];
    if (cum >= top_p) {
      keep = i + 1;
      break;
    }
  }
  std::map<int32_t, double> out;
  double kept = 0;
  for (size_t i = 0; i < keep; ++i)
    if (p[i] >= min_p * p[0]) kept += out[order[i]] = p[i];
  for (auto& [id, q] : out) q /= kept;
  return out;
}

// Draws n times and checks every empirical frequency against the exact probability. For a
// token of probability q the count is Binomial(n, q), standard deviation sqrt(n q (1-q)); a
// 5-sigma bound makes a false failure about 6e-7 per token (and the seed is fixed anyway).
// Tokens outside the kept set must never appear.
void expect_frequencies(Sampler& s, const std::vector<float>& logits,
                        const std::map<int32_t, double>& expected, int n) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < n; ++i) ++counts[s.sample(logits.data())];
  for (size_t id = 0; id < logits.size(); ++id) {
    auto it = expected.find(static_cast<int32_t>(id));
    if (it == expected.end()) {
      EXPECT_EQ(counts[id], 0) << "token " << id << " is outside the kept set";
      continue;
    }
    const double q = it->second;
    const double sigma = std::sqrt(n * q * (1 - q));
    EXPECT_NEAR(counts[id], n * q, 5 * sigma + 1) << "token " << id << " q=" << q;
  }
}

TEST(Sampler, GreedyPicksArgmax) {
  SamplerParams p;
  p.temperature = 0;
  Sampler s = make(p, 1000);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::vector<float> l = random_logits(1000, seed);
    const int32_t want = std::max_element(l.begin(), l.end()) - l.begin();
    EXPECT_EQ(s.sample(l.data()), want);
  }
  std::vector<float> ties = {0, 5, 1, 5, 5};
  EXPECT_EQ(s.sample(ties.data()), 1);  // ties go to the lowest id
}

TEST(Sampler, SameSeedSameSequenceDifferentSeedsDiffer) {
  const int n = 500;
  std::vector<float> l = random_logits(n, 7, 1.0f);
  auto sequence = [&](uint64_t seed) {
    SamplerParams p;
    p.seed = seed;
    p.top_p = 0.95f;
    Sampler s = make(p, n);
    std::vector<int32_t> out;
    for (int i = 0; i < 200; ++i) out.push_back(s.sample(l.data()));
    return out;
  };
  EXPECT_EQ(sequence(123), sequence(123));
  EXPECT_NE(sequence(123), sequence(124));

  // reset() re-seeds, so a reset sampler repeats its first run.
  SamplerParams p;
  p.seed = 5;
  Sampler s = make(p, n);
  std::vector<int32_t> a, b;
  for (int i = 0; i < 50; ++i) a.push_back(s.sample(l.data()));
  s.reset();
  for (int i = 0; i < 50; ++i) b.push_back(s.sample(l.data()));
  EXPECT_EQ(a, b);
}

// Pins the uniform to the raw mt19937_64 output (whose sequence the C++ standard fixes): with
// four equal logits every weight is exactly 1, so the draw is floor(4 * u) with
// u = (raw >> 11) * 2^-53, computed here from the generator directly.
TEST(Sampler, DrawIsDerivedFromRawMt19937Output) {
  SamplerParams p;
  p.seed = 2024;
  Sampler s = make(p, 4);
  std::vector<float> l(4, 0.5f);
  std::mt19937_64 rng(2024);
  for (int i = 0; i < 100; ++i) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    EXPECT_EQ(s.sample(l.data()), static_cast<int32_t>(std::floor(4 * u)));
  }
  // And the generator itself is the standard one (N4861 [rand.predef]: 10000th output).
  std::mt19937_64 check;
  check.discard(9999);
  EXPECT_EQ(check(), 9981545732273789042ull);
}

TEST(Sampler, TopK1EqualsGreedy) {
  const int n = 4096;
  SamplerParams g;
  g.temperature = 0;
  Sampler greedy = make(g, n);
  SamplerParams k;
  k.top_k = 1;
  k.temperature = 1.5f;
  k.seed = 9;
  Sampler top1 = make(k, n);
  for (uint64_t seed = 0; seed < 30; ++seed) {
    std::vector<float> l = random_logits(n, seed);
    // Quantise so that ties at the top happen.
    for (float& x : l) x = std::round(x * 2) / 2;
    EXPECT_EQ(top1.sample(l.data()), greedy.sample(l.data()));
  }
}

TEST(Sampler, TemperatureFrequencies) {
  std::vector<float> l = {1.0f, 0.0f, 2.0f, -1.0f, 0.5f, 1.5f};
  SamplerParams p;
  p.temperature = 0.7f;
  p.seed = 1;
  Sampler s = make(p, l.size());
  expect_frequencies(s, l, reference_probs(l, 0.7f, 0, 1.0f, 0.0f), 40000);
}

TEST(Sampler, TopKKeepsTheRightSet) {
  std::vector<float> l = {1.0f, 0.0f, 2.0f, -1.0f, 0.5f, 1.5f, 0.2f, -0.3f};
  SamplerParams p;
  p.top_k = 3;
  p.temperature = 1.3f;
  p.seed = 2;
  Sampler s = make(p, l.size());
  auto want = reference_probs(l, 1.3f, 3, 1.0f, 0.0f);
  ASSERT_EQ(want.size(), 3u);
  expect_frequencies(s, l, want, 40000);
}

TEST(Sampler, TopPKeepsTheRightSet) {
  std::vector<float> l = {1.0f, 0.0f, 2.0f, -1.0f, 0.5f, 1.5f, 0.2f, -0.3f};
  for (float top_p : {0.3f, 0.6f, 0.8f, 0.95f}) {
    for (int top_k : {0, 6}) {
      SamplerParams p;
      p.top_p = top_p;
      p.top_k = top_k;
      p.seed = 3;
      Sampler s = make(p, l.size());
      SCOPED_TRACE(testing::Message() << "top_p=" << top_p << " top_k=" << top_k);
      expect_frequencies(s, l, reference_probs(l, 1.0f, top_k, top_p, 0.0f), 30000);
    }
  }
}

TEST(Sampler, MinPKeepsTheRightSet) {
  std::vector<float> l = {1.0f, 0.0f, 2.0f, -1.0f, 0.5f, 1.5f, 0.2f, -0.3f};
  for (float min_p : {0.1f, 0.3f, 0.7f}) {
    SamplerParams p;
    p.min_p = min_p;
    p.temperature = 0.8f;
    p.seed = 4;
    Sampler s = make(p, l.size());
    auto want = reference_probs(l, 0.8f, 0, 1.0f, min_p);
    SCOPED_TRACE(testing::Message() << "min_p=" << min_p << " kept=" << want.size());
    expect_frequencies(s, l, want, 30000);
  }
  // Combined with top-p: the intersection of both prefixes.
  SamplerParams p;
  p.min_p = 0.2f;
  p.top_p = 0.9f;
  p.seed = 5;
  Sampler s = make(p, l.size());
  expect_frequencies(s, l, reference_probs(l, 1.0f, 0, 0.9f, 0.2f), 30000);
}

// A DeepSeek-sized vocabulary exercises the incremental partial sort of top-p; the exact kept
// set is computed by the full-sort reference.
TEST(Sampler, LargeVocabTopPStaysInTheNucleus) {
  const int n = 129280;
  std::vector<float> l = random_logits(n, 11, 8.0f);
  for (float top_p : {0.5f, 0.99f}) {
    auto want = reference_probs(l, 0.9f, 0, top_p, 0.0f);
    SamplerParams p;
    p.top_p = top_p;
    p.temperature = 0.9f;
    p.seed = 6;
    Sampler s = make(p, n);
    for (int i = 0; i < 50; ++i) {
      const int32_t t = s.sample(l.data());
      EXPECT_TRUE(want.count(t)) << "token " << t << " outside nucleus of " << want.size();
    }
  }
}

// Observes the penalised logits through the logprobs: the difference of two logprobs is the
// difference of the (biased, penalised) logits.
std::vector<float> adjusted_logits(Sampler& s, const std::vector<float>& l) {
  SampleInfo info;
  s.sample(l.data(), &info);
  std::vector<float> out(l.size());
  for (const TokenLogprob& t : info.top_logprobs) out[t.token] = t.logprob;
  // Re-anchor on token 0, which the tests never penalise or bias.
  const float shift = l[0] - out[0];
  for (float& x : out) x += shift;
  return out;
}

TEST(Sampler, RepetitionPenaltyDividesPositiveMultipliesNegative) {
  std::vector<float> l = {0.5f, 1.0f, 2.0f, -1.0f, -2.0f, 3.0f};
  SamplerParams p;
  p.temperature = 0;
  p.repetition_penalty = 2.0f;
  p.n_logprobs = l.size();
  Sampler s = make(p, l.size());
  for (int32_t t : {2, 3, 2}) s.accept(t);
  std::vector<float> a = adjusted_logits(s, l);
  EXPECT_NEAR(a[1], 1.0f, 1e-5);
  EXPECT_NEAR(a[2], 1.0f, 1e-5);   // 2 / 2, once however often it was seen
  EXPECT_NEAR(a[3], -2.0f, 1e-5);  // -1 * 2
  EXPECT_NEAR(a[4], -2.0f, 1e-5);
  EXPECT_NEAR(a[5], 3.0f, 1e-5);
}

TEST(Sampler, PresenceAndFrequencyPenalties) {
  std::vector<float> l = {0.5f, 1.0f, 2.0f, -1.0f, -2.0f, 3.0f};
  SamplerParams p;
  p.temperature = 0;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  p.n_logprobs = l.size();
  Sampler s = make(p, l.size());
  for (int32_t t : {5, 3, 5, 5}) s.accept(t);
  std::vector<float> a = adjusted_logits(s, l);
  EXPECT_NEAR(a[5], 3.0f - 0.5f - 3 * 0.25f, 1e-5);
  EXPECT_NEAR(a[3], -1.0f - 0.5f - 1 * 0.25f, 1e-5);
  EXPECT_NEAR(a[2], 2.0f, 1e-5);
  EXPECT_EQ(s.sample(l.data()), 2);  // 5 fell below 2

  s.reset();  // forgets the history
  EXPECT_EQ(s.sample(l.data()), 5);
}

TEST(Sampler, PenaltyWindow) {
  std::vector<float> l = {0.5f, 1.0f, 2.0f, -1.0f};
  SamplerParams p;
  p.temperature = 0;
  p.frequency_penalty = 1.0f;
  p.penalty_last_n = 2;
  p.n_logprobs = l.size();
  Sampler s = make(p, l.size());
  for (int32_t t : {1, 2, 2, 3, 2}) s.accept(t);  // window = {3, 2}
  std::vector<float> a = adjusted_logits(s, l);
  EXPECT_NEAR(a[1], 1.0f, 1e-5);
  EXPECT_NEAR(a[2], 1.0f, 1e-5);
  EXPECT_NEAR(a[3], -2.0f, 1e-5);

  p.penalty_last_n = 0;  // off
  Sampler off = make(p, l.size());
  off.accept(2);
  EXPECT_NEAR(adjusted_logits(off, l)[2], 2.0f, 1e-5);

  p.penalty_last_n = -1;  // whole history
  Sampler all = make(p, l.size());
  for (int i = 0; i < 100; ++i) all.accept(2);
  EXPECT_NEAR(adjusted_logits(all, l)[2], 2.0f - 100, 1e-3);
}

TEST(Sampler, LogitBias) {
  std::vector<float> l = {0.5f, 1.0f, 2.0f, -1.0f};
  SamplerParams p;
  p.temperature = 0;
  p.logit_bias = {{3, 10.0f}};
  EXPECT_EQ(make(p, 4).sample(l.data()), 3);
  p.logit_bias = {{2, -100.0f}};
  EXPECT_EQ(make(p, 4).sample(l.data()), 1);
  p.logit_bias = {{1, 0.25f}, {1, 0.25f}};  // repeated ids add up
  p.n_logprobs = 4;
  Sampler s = make(p, 4);
  EXPECT_NEAR(adjusted_logits(s, l)[1], 1.5f, 1e-5);
  // A banned token is never drawn.
  SamplerParams q;
  q.logit_bias = {{2, -100.0f}};
  q.seed = 3;
  Sampler d = make(q, 4);
  for (int i = 0; i < 2000; ++i) EXPECT_NE(d.sample(l.data()), 2);
}

TEST(Sampler, LogprobsAreANormalisedDistributionBeforeTemperature) {
  const int n = 300;
  std::vector<float> l = random_logits(n, 21);
  double lse = 0;  // exact log-sum-exp of the raw logits
  const float mx = *std::max_element(l.begin(), l.end());
  for (float x : l) lse += std::exp(double(x) - mx);
  lse = mx + std::log(lse);
  for (float temperature : {0.0f, 0.3f, 2.0f}) {
    SamplerParams p;
    p.temperature = temperature;
    p.n_logprobs = n;
    p.top_k = 40;
    Sampler s = make(p, n);
    SampleInfo info;
    const int32_t t = s.sample(l.data(), &info);
    EXPECT_EQ(info.token, t);
    ASSERT_EQ(info.top_logprobs.size(), static_cast<size_t>(n));
    double sum = 0;
    for (size_t i = 0; i < info.top_logprobs.size(); ++i) {
      sum += std::exp(double(info.top_logprobs[i].logprob));
      if (i > 0) {
        EXPECT_GE(info.top_logprobs[i - 1].logprob, info.top_logprobs[i].logprob);
      }
      // Independent of temperature and top-k: plain log-softmax of the logits.
      const int32_t id = info.top_logprobs[i].token;
      EXPECT_NEAR(info.top_logprobs[i].logprob, l[id] - lse, 1e-5);
    }
    // n float32 logprobs each within ~1 ulp (relative 6e-8) of exact.
    EXPECT_NEAR(sum, 1.0, 1e-5);
    EXPECT_NEAR(info.logprob, l[t] - lse, 1e-5);
  }
  // Fewer alternatives: the top n of the full distribution, most likely first.
  SamplerParams p;
  p.n_logprobs = 5;
  Sampler s = make(p, n);
  SampleInfo info;
  s.sample(l.data(), &info);
  ASSERT_EQ(info.top_logprobs.size(), 5u);
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return l[a] > l[b]; });
  for (int i = 0; i < 5; ++i) EXPECT_EQ(info.top_logprobs[i].token, order[i]);
}

TEST(Sampler, NegativeInfinityLogitsAreNeverDrawn) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> l = {-inf, 0.0f, -inf, 1.0f};
  SamplerParams p;
  p.seed = 8;
  Sampler s = make(p, 4);
  for (int i = 0; i < 1000; ++i) {
    const int32_t t = s.sample(l.data());
    EXPECT_TRUE(t == 1 || t == 3);
  }
}

TEST(Sampler, BadParamsError) {
  auto expect_error = [](const SamplerParams& p, const char* field, int32_t n_vocab = 10) {
    auto r = Sampler::create(p, n_vocab);
    ASSERT_FALSE(r.ok()) << field;
    EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status().message();
  };
  SamplerParams p;
  expect_error(p, "n_vocab", 0);
  p = {};
  p.temperature = -0.1f;
  expect_error(p, "temperature");
  p = {};
  p.temperature = std::nanf("");
  expect_error(p, "temperature");
  p = {};
  p.top_k = -1;
  expect_error(p, "top_k");
  p = {};
  p.top_p = 0.0f;
  expect_error(p, "top_p");
  p.top_p = 1.01f;
  expect_error(p, "top_p");
  p = {};
  p.min_p = 1.5f;
  expect_error(p, "min_p");
  p = {};
  p.repetition_penalty = 0.0f;
  expect_error(p, "repetition_penalty");
  p = {};
  p.presence_penalty = std::numeric_limits<float>::infinity();
  expect_error(p, "presence_penalty");
  p = {};
  p.frequency_penalty = std::nanf("");
  expect_error(p, "frequency_penalty");
  p = {};
  p.penalty_last_n = -2;
  expect_error(p, "penalty_last_n");
  p = {};
  p.logit_bias = {{10, 1.0f}};
  expect_error(p, "logit_bias");
  p.logit_bias = {{-1, 1.0f}};
  expect_error(p, "logit_bias");
  p.logit_bias = {{1, std::numeric_limits<float>::infinity()}};
  expect_error(p, "logit_bias");
  p = {};
  p.n_logprobs = 11;
  expect_error(p, "n_logprobs");
  // Edge values that are fine.
  p = {};
  p.top_k = 1000;  // larger than the vocabulary = off
  p.top_p = 1.0f;
  p.min_p = 1.0f;
  p.n_logprobs = 10;
  EXPECT_TRUE(Sampler::create(p, 10).ok());
}

}  // namespace
}  // namespace dsrt
