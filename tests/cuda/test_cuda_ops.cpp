// The CUDA backend's kernels against cpu/ref: the shared op-test harness for every op (the
// bare CUDA backend, no CPU fallback, so each case runs on the GPU), plus the quantized
// weight types the harness does not sweep (Q8_0, Q4_0, Q4_K, Q6_K) on both matmul paths
// (GEMV for n <= 8, dequantize + cuBLAS for more rows), matmul_xw and embedding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "backends/op_test.h"
#include "core/quant.h"
#include "cuda_test_util.h"

namespace dsrt {
namespace {

constexpr double kU = 1.0 / 16777216.0;  // float32 unit roundoff

std::unique_ptr<Backend> cuda_or_die() {
  auto be = make_cuda_backend(0);
  DSRT_CHECK_MSG(be.ok(), be.status().message());
  return std::move(be).value();
}

class CudaOpsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaOpsTest, MatchesReference) {
  DSRT_SKIP_WITHOUT_CUDA();
  auto gpu = cuda_or_die();
  auto ref = make_cpu_ref_backend();
  OpTestOptions o;
  o.op = GetParam();
  const auto results = run_op_tests(*gpu, *ref, o);
  EXPECT_FALSE(results.empty()) << "no cases for " << GetParam();
  for (const auto& r : results)
    EXPECT_TRUE(r.passed) << r.desc << ": error " << r.error << " > bound " << r.bound << " "
                          << r.note;
}

std::vector<std::string> all_ops() {
  std::vector<std::string> v;
  for (int i = 0; i < int(Op::kCount); ++i) v.push_back(op_name(Op(i)));
  return v;
}

INSTANTIATE_TEST_SUITE_P(All, CudaOpsTest, ::testing::ValuesIn(all_ops()),
                         [](const auto& i) { return i.param; });

Tensor random_f32(std::mt19937_64& rng, std::vector<int64_t> shape, float scale = 1.0f) {
  Tensor t = Tensor::zeros(DType::F32, std::move(shape));
  std::normal_distribution<float> nd(0.0f, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = nd(rng);
  return t;
}

Tensor quantized(std::mt19937_64& rng, DType dt, int64_t rows, int64_t cols) {
  Tensor src = random_f32(rng, {rows, cols}, 0.5f);
  Tensor w = Tensor::zeros(dt, {rows, cols}, std::string("w_") + std::string(dtype_name(dt)));
  for (int64_t r = 0; r < rows; ++r)
    quantize_row(dt, src.f32() + r * cols, const_cast<uint8_t*>(w.row_ptr(r)), cols);
  return w;
}

// max over outputs of |gpu - ref| / (gamma_k * sum |x w|): the float32 dot-product bound the
// harness uses (Higham). The weights decode bit-identically on both sides, so only the
// summation differs.
double bound_ratio(const Tensor& x, const Tensor& w, const Tensor& yg, const Tensor& yr, bool xw) {
  const int64_t n = x.rows(), k = x.cols(), m = yg.cols();
  std::vector<float> dec(size_t(w.rows() * w.cols()));
  for (int64_t r = 0; r < w.rows(); ++r) weight_row_to_f32(w, r, dec.data() + r * w.cols());
  double worst = 0;
  const double g = double(k + 2) * kU / (1 - double(k + 2) * kU);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) {
      double s = 0;
      for (int64_t q = 0; q < k; ++q)
        s += std::fabs(double(x.f32()[i * k + q]) * (xw ? dec[q * m + j] : dec[j * k + q]));
      const double err = std::fabs(double(yg.f32()[i * m + j]) - yr.f32()[i * m + j]);
      if (!std::isfinite(yg.f32()[i * m + j])) return INFINITY;
      worst = std::max(worst, err / (g * s + 1e-30));
    }
  return worst;
}

const DType kQuantTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K};

TEST(CudaQuant, MatmulGemvAndGemm) {
  DSRT_SKIP_WITHOUT_CUDA();
  auto gpu = cuda_or_die();
  auto ref = make_cpu_ref_backend();
  std::mt19937_64 rng(7);
  for (DType dt : kQuantTypes) {
    ASSERT_TRUE(gpu->supports(Op::Matmul, dt));
    for (int64_t k : {int64_t(256), int64_t(768)})
      for (int64_t n : {int64_t(1), int64_t(3), int64_t(8), int64_t(9), int64_t(33)})
        for (int64_t m : {int64_t(1), int64_t(67)}) {
          Tensor w = quantized(rng, dt, m, k), x = random_f32(rng, {n, k});
          Tensor yg = Tensor::zeros(DType::F32, {n, m}), yr = Tensor::zeros(DType::F32, {n, m});
          gpu->matmul(x, w, yg);
          ref->matmul(x, w, yr);
          EXPECT_LE(bound_ratio(x, w, yg, yr, false), 1.0)
              << dtype_name(dt) << " n=" << n << " k=" << k << " m=" << m;
        }
  }
}

TEST(CudaQuant, MatmulXW) {
  DSRT_SKIP_WITHOUT_CUDA();
  auto gpu = cuda_or_die();
  auto ref = make_cpu_ref_backend();
  std::mt19937_64 rng(8);
  for (DType dt : kQuantTypes)
    for (int64_t n : {int64_t(1), int64_t(11)}) {
      const int64_t k = 65, m = 512;  // W [k, m]: rows of 512 quantized columns (as W_UK)
      Tensor w = quantized(rng, dt, k, m), x = random_f32(rng, {n, k});
      Tensor yg = Tensor::zeros(DType::F32, {n, m}), yr = Tensor::zeros(DType::F32, {n, m});
      gpu->matmul_xw(x, w, yg);
      ref->matmul_xw(x, w, yr);
      EXPECT_LE(bound_ratio(x, w, yg, yr, true), 1.0) << dtype_name(dt) << " n=" << n;
    }
}

TEST(CudaQuant, EmbeddingDecodesExactly) {
  DSRT_SKIP_WITHOUT_CUDA();
  auto gpu = cuda_or_die();
  auto ref = make_cpu_ref_backend();
  std::mt19937_64 rng(9);
  for (DType dt : kQuantTypes) {
    Tensor table = quantized(rng, dt, 40, 512);
    std::vector<int32_t> ids = {0, 39, 7, 7, 21};
    Tensor yg = Tensor::zeros(DType::F32, {5, 512}), yr = Tensor::zeros(DType::F32, {5, 512});
    gpu->embedding(table, ids.data(), 5, yg);
    ref->embedding(table, ids.data(), 5, yr);
    EXPECT_EQ(std::memcmp(yg.data, yr.data, yg.nbytes()), 0) << dtype_name(dt);
  }
}

// A weight served from the device cache must give the same answer the second time, and a new
// weight must not be confused with a freed one that had the same address.
TEST(CudaBackend, WeightCacheKeepsAnswers) {
  DSRT_SKIP_WITHOUT_CUDA();
  auto gpu = cuda_or_die();
  auto ref = make_cpu_ref_backend();
  std::mt19937_64 rng(10);
  Tensor x = random_f32(rng, {2, 64});
  for (int round = 0; round < 4; ++round) {
    Tensor w = random_f32(rng, {17, 64});
    Tensor a = Tensor::zeros(DType::F32, {2, 17}), b = a, r = a;
    b = Tensor::zeros(DType::F32, {2, 17});
    r = Tensor::zeros(DType::F32, {2, 17});
    gpu->matmul(x, w, a);
    gpu->matmul(x, w, b);
    ref->matmul(x, w, r);
    EXPECT_EQ(std::memcmp(a.data, b.data, a.nbytes()), 0);
    EXPECT_LE(bound_ratio(x, w, a, r, false), 1.0) << "round " << round;
  }
}

// Runs everywhere: without a device the backend must refuse with a clear message, not crash.
TEST(CudaBackend, CreationReportsMissingDevice) {
  std::string why;
  const int n = cuda_device_count(&why);
  auto be = make_backend("cuda", 1);
  if (n == 0) {
    ASSERT_FALSE(be.ok());
    EXPECT_NE(be.status().message().find("no CUDA device"), std::string::npos)
        << be.status().message();
    std::printf("  make_backend(\"cuda\"): %s\n", be.status().message().c_str());
  } else {
    ASSERT_TRUE(be.ok()) << be.status().message();
    EXPECT_EQ(be.value()->name(), "cuda:0");
  }
  auto bad = make_backend("cuda:" + std::to_string(n + 3), 1);
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(make_backend("cuda:x", 1).ok());
}

}  // namespace
}  // namespace dsrt
