// Runs the op-test harness: every kernel of every non-reference backend against cpu/ref.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "backends/cpu_opt/quant_dot.h"
#include "backends/cpu_opt/vec_math.h"
#include "backends/op_test.h"

namespace dsrt {
namespace {

class OpsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OpsTest, MatchesReference) {
  Op op;
  ASSERT_TRUE(op_from_name(GetParam(), &op));
  auto ref = make_cpu_ref_backend();
  for (const std::string& bn : backend_names()) {
    if (bn == "cpu-ref") continue;
    // cpu-generic and cpu-decode differ from cpu only in their quantized matmul kernels.
    if (bn != "cpu" && GetParam() != "matmul" && GetParam() != "moe_ffn") continue;
    for (int threads : {1, 3}) {
      auto be = make_backend(bn, threads);
      ASSERT_TRUE(be.ok());
      OpTestOptions o;
      o.op = GetParam();
      auto results = run_op_tests(*be.value(), *ref, o);
      EXPECT_FALSE(results.empty()) << "no cases for " << GetParam();
      for (const auto& r : results)
        EXPECT_TRUE(r.passed) << bn << " t=" << threads << " " << r.desc << ": error " << r.error
                              << " > bound " << r.bound << " " << r.note;
    }
  }
}

std::vector<std::string> all_ops() {
  std::vector<std::string> v;
  for (int i = 0; i < int(Op::kCount); ++i) v.push_back(op_name(Op(i)));
  return v;
}

INSTANTIATE_TEST_SUITE_P(All, OpsTest, ::testing::ValuesIn(all_ops()),
                         [](const auto& i) { return i.param; });

// The harness must catch a wrong kernel: a backend whose matmul drops the last column.
class BrokenBackend final : public Backend {
 public:
  BrokenBackend() : ref_(make_cpu_ref_backend()) {}
  std::string name() const override { return "broken"; }
  bool supports(Op op, DType wt) const override { return ref_->supports(op, wt); }
  void matmul(const Tensor& x, const Tensor& w, Tensor& y) override {
    ref_->matmul(x, w, y);
    if (x.cols() > 1) y.f32()[0] += 0.01f * (1 + std::fabs(y.f32()[0]));
  }
  void matmul_xw(const Tensor& x, const Tensor& w, Tensor& y) override { ref_->matmul_xw(x, w, y); }
  void rms_norm(const Tensor& x, const Tensor& w, float e, Tensor& y) override { ref_->rms_norm(x, w, e, y); }
  void rope(const RopeArgs& a) override { ref_->rope(a); }
  void softmax(Tensor& x) override { ref_->softmax(x); }
  void silu_mul(const Tensor& g, const Tensor& u, Tensor& y) override { ref_->silu_mul(g, u, y); }
  void add(const Tensor& x, Tensor& y) override { ref_->add(x, y); }
  void embedding(const Tensor& t, const int32_t* i, int64_t n, Tensor& y) override { ref_->embedding(t, i, n, y); }
  void attention(const AttentionArgs& a) override { ref_->attention(a); }
  void moe_route(const Tensor& l, const MoeRouteArgs& a, Tensor& i, Tensor& w) override { ref_->moe_route(l, a, i, w); }
  void moe_ffn(const Tensor& x, const Tensor& i, const Tensor& w, const std::vector<ExpertWeights>& e,
               Tensor& y) override { ref_->moe_ffn(x, i, w, e, y); }

 private:
  std::unique_ptr<Backend> ref_;
};

// The vectorized exp of softmax/SiLU against std::exp over the whole float range it serves:
// relative 5e-7 (4 ulp) over [-87, 88], 0 below -87.34 and inf above 88.38, as the header
// promises.
TEST(VecMath, ExpMatchesStdExp) {
  std::vector<float> xs;
  for (float x = -100.0f; x <= 100.0f; x += 0.0137f) xs.push_back(x);
  for (float x : {0.0f, -0.0f, 1e-8f, -1e-8f, 88.0f, -87.0f}) xs.push_back(x);
  std::vector<float> y = xs;
  const float sum = vmath::exp_sub_sum(y.data(), int64_t(y.size()), 0.0f);
  double want_sum = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const float want = std::exp(xs[i]);
    want_sum += (xs[i] > 88.38f ? 0.0 : double(want));
    if (xs[i] < -87.34f) {
      EXPECT_EQ(y[i], 0.0f) << xs[i];
    } else if (xs[i] > 88.38f) {
      EXPECT_TRUE(std::isinf(y[i])) << xs[i];
    } else if (xs[i] >= -87.0f && xs[i] <= 88.0f) {  // the edges may flush to 0 / inf
      EXPECT_NEAR(y[i], want, 5e-7 * want) << xs[i];
    }
  }
  EXPECT_TRUE(std::isinf(sum));  // the inputs above 88.4 overflow the sum, like expf would
  std::vector<float> g = {-50.0f, -3.0f, -0.5f, 0.0f, 0.5f, 3.0f, 20.0f, 90.0f, -90.0f};
  for (int i = 0; i < 7; ++i) g.push_back(float(i) * 0.37f - 1.0f);
  std::vector<float> u(g.size(), 1.5f), out(g.size());
  vmath::silu_mul(g.data(), u.data(), out.data(), int64_t(g.size()));
  for (size_t i = 0; i < g.size(); ++i) {
    const float want = g[i] / (1.0f + std::exp(-g[i])) * 1.5f;
    EXPECT_NEAR(out[i], want, 5e-7 * std::fabs(want) + 1e-30f) << g[i];
  }
}

TEST(OpsHarness, CatchesAWrongKernel) {
  BrokenBackend broken;
  auto ref = make_cpu_ref_backend();
  OpTestOptions o;
  o.op = "matmul";
  o.quick = true;
  int failed = 0;
  for (const auto& r : run_op_tests(broken, *ref, o)) failed += !r.passed;
  EXPECT_GT(failed, 0);
}

// The activation quantizer (SIMD where the build has it) gives exactly the scalar definition:
// d = amax / 127, q = round-half-even(x / d) by multiplying with 1 / d, dsum = d * sum(q).
// Inputs include halves (ties), zeros, an all-zero block and a wide range of magnitudes.
TEST(QuantDot, ActivationQuantizationIsExact) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0, 1);
  const int64_t n = 37, k = 1536;
  std::vector<float> x(size_t(n * k));
  for (int64_t i = 0; i < n * k; ++i) {
    float v = nd(rng) * (i % 7 == 0 ? 100.f : 1.f);
    if (i % 11 == 0) v = std::round(v * 2) / 2;
    if (i % 97 == 0) v = 0;
    x[size_t(i)] = v;
  }
  std::fill_n(x.begin() + 5 * k, 32, 0.0f);
  qdot::QuantizedActs a;
  a.resize(qdot::ActFormat::Q8x32, n, k);
  qdot::quantize_acts(x.data(), 0, n, &a);
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t b = 0; b < k / 32; ++b) {
      const float* xb = x.data() + i * k + b * 32;
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xb[j]));
      const float d = amax / 127, id = d != 0 ? 1.0f / d : 0.0f;
      int sum = 0;
      for (int j = 0; j < 32; ++j) {
        const int q = int(std::nearbyint(xb[j] * id));
        sum += q;
        bad += a.q[size_t(i * k + b * 32 + j)] != int8_t(q);
      }
      bad += a.d[size_t(i * (k / 32) + b)] != d;
      bad += a.dsum[size_t(i * (k / 32) + b)] != d * float(sum);
    }
  EXPECT_EQ(bad, 0);
}

// The K types' activation quantizer: per 256, the first element of largest magnitude maps to
// -127 (ggml's quantize_row_q8_K), d = 1 / iscale, and sums of each 16 quants. Equal
// magnitudes of both signs and an all-zero block included.
TEST(QuantDot, KActivationQuantizationIsExact) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0, 1);
  const int64_t n = 9, k = 1024;
  std::vector<float> x(size_t(n * k));
  for (float& v : x) v = nd(rng);
  x[3] = 5.0f, x[70] = -5.0f;     // a tie of magnitudes: the first (positive) one decides
  x[300] = -6.0f, x[400] = 6.0f;  // and here the negative one
  std::fill_n(x.begin() + 2 * k, 256, 0.0f);
  qdot::QuantizedActs a;
  a.resize(qdot::ActFormat::Q8x256, n, k);
  qdot::quantize_acts(x.data(), 0, n, &a);
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t s = 0; s < k / 256; ++s) {
      const float* xs = x.data() + i * k + s * 256;
      float amax = 0, maxv = 0;
      for (int e = 0; e < 256; ++e)
        if (std::fabs(xs[e]) > amax) amax = std::fabs(xs[e]), maxv = xs[e];
      const float iscale = maxv == 0 ? 0.0f : -127.f / maxv;
      for (int e = 0; e < 256; ++e) {
        const int q = maxv == 0 ? 0 : std::min(127, int(std::nearbyint(iscale * xs[e])));
        bad += a.q[size_t(i * k + s * 256 + e)] != int8_t(q);
      }
      bad += a.d[size_t(i * (k / 256) + s)] != (maxv == 0 ? 0.0f : 1 / iscale);
      for (int j = 0; j < 16; ++j) {
        int sum = 0;
        for (int l = 0; l < 16; ++l) sum += a.q[size_t(i * k + s * 256 + 16 * j + l)];
        bad += a.bsum[size_t(i * (k / 16) + s * 16 + j)] != sum;
      }
    }
  EXPECT_EQ(bad, 0);
}

}  // namespace
}  // namespace dsrt
