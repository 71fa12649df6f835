// Quant formats: dequantizers against llama.cpp's own dequantized rows, quantizers against
// llama-quantize's output (bit-exact for the legacy types, error parity for the K types), and
// round-trip error bounds with their reasons.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>

#include "core/quant.h"
#include "loaders/gguf.h"
#include "test_util.h"

namespace dsrt {
namespace {

namespace fs = std::filesystem;

std::string vendored() {
  return test::vendored_dir() + "/gguf";
}
std::string shared_gguf() {
  const std::string s = test::shared_dir();
  return s.empty() ? s : s + "/data/gguf";
}

std::shared_ptr<GgufFile> open_or_die(const std::string& path) {
  auto f = GgufFile::open(path);
  EXPECT_TRUE(f.ok()) << f.status().message();
  return f.ok() ? f.value() : nullptr;
}

std::vector<float> dequant(const Tensor& t, int64_t r) {
  std::vector<float> out(size_t(t.cols()));
  dequantize_row(t.dtype, t.row_ptr(r), out.data(), t.cols());
  return out;
}

// Checks every row listed in a dequant-vectors file bit for bit (llama.cpp prints them with
// %.9g, which round-trips float32). locate maps the listed file name to a path.
// exact_offsets: whether data_offset_in_file is the absolute file offset. In the shared file
// it is not (it is shifted by a constant per file, e.g. tiny-llama-q2_k lists output.weight at
// 58560 where the file has its data section, and that tensor, at 29280); there we only check
// that the shift is the same for every tensor of a file, and the values decide.
void check_dequant_vectors(const std::string& json_path,
                           const std::function<std::string(const std::string&)>& locate,
                           bool exact_offsets, std::set<std::string>* types_seen) {
  std::ifstream in(json_path);
  ASSERT_TRUE(in) << json_path;
  const nlohmann::json j = nlohmann::json::parse(in);
  ASSERT_EQ(j.at("format"), "dequant-vectors/1");
  for (const auto& [file, entries] : j.at("files").items()) {
    const std::string path = locate(file);
    ASSERT_FALSE(path.empty()) << "cannot find " << file;
    auto g = open_or_die(path);
    ASSERT_TRUE(g);
    std::optional<int64_t> shift;
    for (const auto& e : entries) {
      const std::string name = e.at("tensor");
      SCOPED_TRACE(file + " " + name);
      const GgufTensorInfo* ti = g->find_tensor(name);
      ASSERT_NE(ti, nullptr);
      EXPECT_EQ(ti->type_name, e.at("type").get<std::string>());
      EXPECT_EQ(ti->ne(), e.at("ne").get<std::vector<int64_t>>());
      const int64_t listed = e.at("data_offset_in_file").get<int64_t>();
      if (exact_offsets) {
        EXPECT_EQ(int64_t(ti->file_offset), listed);
      } else {
        if (!shift) shift = listed - int64_t(ti->file_offset);
        EXPECT_EQ(listed - int64_t(ti->file_offset), *shift);
      }
      auto t = g->tensor(name);
      ASSERT_TRUE(t.ok()) << t.status().message();
      ASSERT_TRUE(quant_can_dequantize(t->dtype));
      EXPECT_EQ(t->rows(), e.at("n_rows").get<int64_t>());
      types_seen->insert(ti->type_name);
      for (const auto& [row, values] : e.at("rows").items()) {
        const std::vector<float> got = dequant(t.value(), std::stoll(row));
        ASSERT_EQ(got.size(), values.size());
        int bad = 0;
        for (size_t k = 0; k < got.size(); ++k) {
          const float want = float(values[k].get<double>());
          if (std::memcmp(&got[k], &want, 4) != 0 && !(got[k] == 0 && want == 0)) {
            if (bad++ < 3)
              ADD_FAILURE() << "row " << row << " [" << k << "]: got " << got[k] << " want "
                            << want;
          }
        }
        EXPECT_EQ(bad, 0) << "row " << row;
      }
    }
  }
}

TEST(DequantVectors, VendoredFilesMatchLlamaCpp) {
  std::set<std::string> seen;
  check_dequant_vectors(
      vendored() + "/dequant_vectors.json",
      [](const std::string& f) { return vendored() + "/" + f; }, true, &seen);
  // Every ggml type a shipped llama.cpp file uses is covered by the vendored subset.
  EXPECT_EQ(seen, (std::set<std::string>{"F32", "F16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
                                         "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"}));
}

TEST(DequantVectors, SharedFilesMatchLlamaCpp) {
  const std::string dir = shared_gguf();
  if (dir.empty()) GTEST_SKIP() << "../shared is absent; the vendored subset runs instead";
  std::set<std::string> seen;
  check_dequant_vectors(
      dir + "/dequant_vectors.json",
      [&](const std::string& f) {
        for (const char* sub : {"deepseek", "dense", "vocab"})
          if (fs::exists(dir + "/" + sub + "/" + f)) return dir + "/" + sub + "/" + f;
        return std::string();
      },
      false, &seen);
  EXPECT_EQ(seen.size(), 12u);
}

// ---- quantizers against llama-quantize -------------------------------------------------------

double sq_err(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) e += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return e;
}

struct Parity {
  int rows = 0;
  int exact_rows = 0;
  double our_err = 0, ref_err = 0;
};

// Quantizes the F32 source rows of `name` to the type llama-quantize gave it and compares
// with its output: ref_rows rows of q (a prefix when the excerpt keeps the first rows).
Parity compare_with_llama_quantize(const GgufFile& f32, const GgufFile& q,
                                   const std::string& name) {
  Parity p;
  auto src = f32.tensor(name);
  auto ref = q.tensor(name);
  EXPECT_TRUE(src.ok() && ref.ok()) << name;
  if (!src.ok() || !ref.ok()) return p;
  EXPECT_EQ(src->cols(), ref->cols());
  const int64_t rows = std::min(src->rows(), ref->rows());
  const size_t rb = ref->row_bytes();
  std::vector<uint8_t> ours(rb);
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<float> x = dequant(src.value(), r);
    quantize_row(ref->dtype, x.data(), ours.data(), ref->cols());
    p.rows++;
    if (std::memcmp(ours.data(), ref->row_ptr(r), rb) == 0) p.exact_rows++;
    std::vector<float> y(x.size());
    dequantize_row(ref->dtype, ours.data(), y.data(), ref->cols());
    p.our_err += sq_err(x, y);
    p.ref_err += sq_err(x, dequant(ref.value(), r));
  }
  return p;
}

// The legacy types and Q8_K follow ggml's reference arithmetic exactly, so their bytes must
// match; the K types use our own scale search, which must be at least as accurate as ggml's
// reference quantizer (within 2%: both are searches over a grid, ggml's minimizes a weighted
// error, ours the plain squared error, so neither dominates block by block).
void check_parity(const GgufFile& f32, const GgufFile& q, const std::string& name) {
  SCOPED_TRACE(name);
  const GgufTensorInfo* ti = q.find_tensor(name);
  ASSERT_NE(ti, nullptr);
  const Parity p = compare_with_llama_quantize(f32, q, name);
  ASSERT_GT(p.rows, 0);
  const bool legacy = ti->dtype == DType::Q4_0 || ti->dtype == DType::Q4_1 ||
                      ti->dtype == DType::Q5_0 || ti->dtype == DType::Q5_1 ||
                      ti->dtype == DType::Q8_0;
  std::printf("%-28s %-5s rows %5d  bit-exact %5d  squared error ours %.6g llama.cpp %.6g\n",
              name.c_str(), ti->type_name.c_str(), p.rows, p.exact_rows, p.our_err, p.ref_err);
  if (legacy) {
    EXPECT_EQ(p.exact_rows, p.rows) << ti->type_name << " bytes differ from llama-quantize's";
  } else {
    EXPECT_LE(p.our_err, 1.02 * p.ref_err)
        << ti->type_name << ": our squared error " << p.our_err << " vs llama.cpp " << p.ref_err;
  }
}

TEST(QuantParity, VendoredExcerptsMatchLlamaQuantize) {
  auto f32 = open_or_die(vendored() + "/v3-tiny-f32.excerpt.gguf");
  auto q = open_or_die(vendored() + "/v3-tiny-q4_k_m.excerpt.gguf");
  ASSERT_TRUE(f32 && q);
  for (const char* name : {"blk.0.attn_k_b.weight", "blk.2.ffn_down_exps.weight",
                           "token_embd.weight", "output.weight"})
    check_parity(*f32, *q, name);
}

TEST(QuantParity, SharedV3TinyEveryTensor) {
  const std::string dir = shared_gguf();
  if (dir.empty()) GTEST_SKIP() << "../shared is absent";
  auto f32 = open_or_die(dir + "/deepseek/v3-tiny-f32.gguf");
  auto q = open_or_die(dir + "/deepseek/v3-tiny-q4_k_m.gguf");
  ASSERT_TRUE(f32 && q);
  int checked = 0;
  for (const GgufTensorInfo& ti : q->tensors()) {
    if (ti.dtype == DType::F32 || !quant_can_quantize(ti.dtype)) continue;
    check_parity(*f32, *q, ti.name);
    ++checked;
  }
  // Every 2-D/3-D weight except the F32 routers: 70 tensors less 20 1-D ones and 3 routers.
  EXPECT_EQ(checked, 47);
}

// ---- round trips -----------------------------------------------------------------------------

// Test-side reading of each block's decoded levels: for element e, the decoder produces
// S * q + B for an integer q in [qlo, qhi]. Read independently of quant.cpp from ggml's layouts.
struct Levels {
  float s = 0, b = 0;
  int qlo = 0, qhi = 0;
  float slack = 0;  // extra error allowed, see below
};

float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

void k4_scale_min(const uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// The legacy types pick q with the unrounded scale d and store d (and m) as f16, so the
// decoded level may move by |q| * |d - f16(d)| + |m - f16(m)| <= (|q| |d| + |m|) 2^-11.
// Below 2^-14 f16 is subnormal and its rounding error is absolute, 2^-25.
constexpr float kF16Rel = 1.0f / 1024;  // 2^-10: twice f16's relative rounding error
float f16_err(float v) {
  return std::max(std::fabs(v) * kF16Rel, std::ldexp(1.0f, -24));
}

Levels levels_of(DType t, const uint8_t* blk, int e) {
  Levels L;
  switch (t) {
    case DType::Q4_0:
      L = {f16_at(blk), 0, -8, 7};
      L.slack = 8 * f16_err(L.s);
      break;
    case DType::Q5_0:
      L = {f16_at(blk), 0, -16, 15};
      L.slack = 16 * f16_err(L.s);
      break;
    case DType::Q8_0:
      L = {f16_at(blk), 0, -127, 127};
      L.slack = 127 * f16_err(L.s);
      break;
    case DType::Q4_1:
    case DType::Q5_1: {
      const int qmax = t == DType::Q4_1 ? 15 : 31;
      L = {f16_at(blk), f16_at(blk + 2), 0, qmax};
      L.slack = qmax * f16_err(L.s) + f16_err(L.b);
      break;
    }
    case DType::Q8_K: {
      float d;
      std::memcpy(&d, blk, 4);
      L = {d, 0, -127, 127};
      break;
    }
    case DType::Q2_K: {
      const int sc = blk[e / 16];
      L = {f16_at(blk + 80) * float(sc & 15), -(f16_at(blk + 82) * float(sc >> 4)), 0, 3};
      break;
    }
    case DType::Q3_K: {
      const uint8_t* s = blk + 96;
      const int j = e / 16;
      const int low = j < 8 ? (s[j] & 15) : (s[j - 8] >> 4);
      const int sc = (low | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
      L = {f16_at(blk + 108) * float(sc), 0, -4, 3};
      break;
    }
    case DType::Q4_K:
    case DType::Q5_K: {
      int sc, m;
      k4_scale_min(blk + 4, e / 32, &sc, &m);
      L = {f16_at(blk) * float(sc), -(f16_at(blk + 2) * float(m)), 0, t == DType::Q4_K ? 15 : 31};
      break;
    }
    case DType::Q6_K:
      L = {f16_at(blk + 208) * float(int8_t(blk[192 + e / 16])), 0, -32, 31};
      break;
    default:
      ADD_FAILURE() << "no level model for " << dtype_name(t);
  }
  return L;
}

std::vector<float> test_signal(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = g(rng);
  // Blocks with structure the scale search must survive (each 256 elements long).
  auto fill = [&](int64_t at, auto f) {
    for (int64_t k = 0; k < 256 && at + k < n; ++k) x[size_t(at + k)] = f(k);
  };
  if (n >= 256 * 10) {
    fill(0, [](int64_t) { return 0.0f; });
    fill(256, [](int64_t) { return 0.5f; });
    fill(512, [](int64_t) { return -0.25f; });
    fill(768, [&](int64_t k) { return k == 77 ? 40.0f : 0.01f * g(rng); });  // one outlier
    fill(1024, [&](int64_t) { return 1.0f + std::fabs(g(rng)); });           // all positive
    fill(1280, [&](int64_t) { return -1.0f - std::fabs(g(rng)); });          // all negative
    fill(1536, [](int64_t k) { return float(k) / 256.0f - 0.5f; });          // ramp
    fill(1792, [&](int64_t) { return 1e-3f * g(rng); });                     // tiny
    fill(2048, [&](int64_t) { return 300.0f * g(rng); });                    // large
  }
  return x;
}

const DType kQuantTypes[] = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                             DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K,
                             DType::Q5_K, DType::Q6_K, DType::Q8_K};

// Every element decodes to its nearest level: |x - y| <= half a step of its block's decoded
// scale, plus the distance to the representable range when x lies outside it, plus the
// legacy types' f16 slack (above) and float rounding of the level arithmetic.
TEST(QuantRoundTrip, EveryElementAtItsNearestLevel) {
  const int64_t n = 256 * 16;
  const std::vector<float> x = test_signal(n, 1234);
  for (DType t : kQuantTypes) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    ASSERT_TRUE(quant_can_quantize(t));
    const DTypeInfo& info = dtype_info(t);
    std::vector<uint8_t> q(dtype_row_bytes(t, n).value());
    quantize_row(t, x.data(), q.data(), n);
    std::vector<float> y(static_cast<size_t>(n));
    dequantize_row(t, q.data(), y.data(), n);
    int bad = 0;
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* blk = q.data() + (i / info.block_size) * info.block_bytes;
      const Levels L = levels_of(t, blk, int(i % info.block_size));
      const float a = L.s * float(L.qlo) + L.b, c = L.s * float(L.qhi) + L.b;
      const float lo = std::min(a, c), hi = std::max(a, c);
      const float clip = std::max({0.0f, lo - x[i], x[i] - hi});
      const float bound = 0.5f * std::fabs(L.s) + clip + L.slack +
                          4e-7f * (std::fabs(x[i]) + std::fabs(L.b) + std::fabs(L.s) * 128);
      if (!(std::fabs(x[i] - y[i]) <= bound) && bad++ < 5)
        ADD_FAILURE() << "element " << i << ": x " << x[i] << " y " << y[i] << " step " << L.s
                      << " bound " << bound;
    }
    EXPECT_EQ(bad, 0);
    // Constant and zero blocks are exact for the types that can represent them: zero always;
    // the 0.5 block exactly for Q8_K (float scale), within f16 rounding for the others.
    for (int64_t i = 0; i < 256; ++i) EXPECT_EQ(y[size_t(i)], 0.0f) << i;
    for (int64_t i = 256; i < 512; ++i) EXPECT_NEAR(y[size_t(i)], 0.5f, 0.5f * kF16Rel) << i;
  }
}

// Error budget against plain min/max rounding: for a uniform grid of L levels over a range R,
// the rms rounding error is R / (L - 1) / sqrt(12). A scale search must not do worse than that
// grid on Gaussian data, up to the cost of storing the sub-block scales in few bits (the 4-bit
// scales and mins of Q2_K and the 6-bit ones of Q3_K/Q4_K/Q5_K round the grid's step by up to
// half a scale unit), for which we allow a factor per type.
TEST(QuantRoundTrip, ErrorWithinMinMaxGridBudget) {
  const int64_t n = 256 * 64;
  std::mt19937 rng(99);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = g(rng);
  struct Case {
    DType t;
    int sub;         // elements per scale
    int levels;      // quant levels per scale
    bool with_zero;  // asymmetric K types keep 0 inside the range (the min is unsigned)
    bool sym;        // symmetric: range is 2 * absmax
    double factor;   // allowance for scale storage (see above)
  };
  const Case cases[] = {
      {DType::Q4_0, 32, 16, false, true, 1.0},  {DType::Q5_0, 32, 32, false, true, 1.0},
      {DType::Q8_0, 32, 255, false, true, 1.0}, {DType::Q8_K, 256, 255, false, true, 1.0},
      {DType::Q4_1, 32, 16, false, false, 1.0}, {DType::Q5_1, 32, 32, false, false, 1.0},
      {DType::Q2_K, 16, 4, true, false, 1.1},   {DType::Q3_K, 16, 8, false, true, 1.1},
      {DType::Q4_K, 32, 16, true, false, 1.1},  {DType::Q5_K, 32, 32, true, false, 1.1},
      {DType::Q6_K, 16, 64, false, true, 1.05},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(dtype_name(c.t)));
    std::vector<uint8_t> q(dtype_row_bytes(c.t, n).value());
    quantize_row(c.t, x.data(), q.data(), n);
    std::vector<float> y(static_cast<size_t>(n));
    dequantize_row(c.t, q.data(), y.data(), n);
    double budget = 0;
    for (int64_t b = 0; b < n; b += c.sub) {
      float lo = c.with_zero ? 0.0f : INFINITY, hi = c.with_zero ? 0.0f : -INFINITY, amax = 0;
      for (int k = 0; k < c.sub; ++k) {
        lo = std::min(lo, x[size_t(b + k)]);
        hi = std::max(hi, x[size_t(b + k)]);
        amax = std::max(amax, std::fabs(x[size_t(b + k)]));
      }
      const double range = c.sym ? 2.0 * amax : double(hi) - lo;
      const double step = range / (c.levels - 1);
      budget += c.sub * step * step / 12;
    }
    const double err = sq_err(x, y);
    EXPECT_LE(err, c.factor * budget)
        << "rms " << std::sqrt(err / n) << " budget rms " << std::sqrt(budget / n);
    std::printf("%-5s rms error %.5f  (min/max grid %.5f)\n", std::string(dtype_name(c.t)).c_str(),
                std::sqrt(err / n), std::sqrt(budget / n));
  }
}

TEST(QuantRoundTrip, PlainFloatTypes) {
  const std::vector<float> x = test_signal(1000, 5);
  std::vector<uint8_t> buf(4000);
  std::vector<float> y(1000);
  quantize_row(DType::F16, x.data(), buf.data(), 1000);
  dequantize_row(DType::F16, buf.data(), y.data(), 1000);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(y[i], f16_to_f32(f32_to_f16(x[i])));
  quantize_row(DType::BF16, x.data(), buf.data(), 1000);
  dequantize_row(DType::BF16, buf.data(), y.data(), 1000);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(y[i], bf16_to_f32(f32_to_bf16(x[i])));
  quantize_row(DType::F32, x.data(), buf.data(), 1000);
  dequantize_row(DType::F32, buf.data(), y.data(), 1000);
  EXPECT_EQ(std::memcmp(x.data(), y.data(), 4000), 0);
}

TEST(QuantRoundTrip, CapabilityLists) {
  for (DType t : kQuantTypes) EXPECT_TRUE(quant_can_dequantize(t)) << dtype_name(t);
  EXPECT_TRUE(quant_can_dequantize(DType::Q8_1));
  EXPECT_FALSE(quant_can_quantize(DType::Q8_1));
  EXPECT_FALSE(quant_can_dequantize(DType::F8_E4M3));  // needs block scales: tensor.h decodes it
  EXPECT_FALSE(quant_can_dequantize(DType::I32));
}

// Legacy quantizers reproduce ggml's arithmetic; spot-check hand-computed blocks.
TEST(QuantRoundTrip, HandComputedLegacyBlocks) {
  float x[32];
  for (int i = 0; i < 32; ++i) x[i] = float(i - 16) / 2;  // -8 .. 7.5, max magnitude -8
  uint8_t b[34];
  quantize_row(DType::Q4_0, x, b, 32);
  // d = -8 / -8 = 1; q = x + 8.5 truncated: -8 -> 0, -7.5 -> 1 (1.0 -> trunc), 7.5 -> 15 (16
  // clamps)
  EXPECT_EQ(f16_at(b), 1.0f);
  EXPECT_EQ(b[2] & 15, 0);
  EXPECT_EQ(b[2] >> 4, 8);  // x[16] = 0 -> 8
  float y[32];
  dequantize_row(DType::Q4_0, b, y, 32);
  EXPECT_EQ(y[0], -8.0f);
  EXPECT_EQ(y[31], 7.0f);  // 7.5 clips to the top level 7
  quantize_row(DType::Q8_0, x, b, 32);
  EXPECT_EQ(f16_at(b), f16_to_f32(f32_to_f16(8.0f / 127)));
  EXPECT_EQ(int8_t(b[2]), -127);
  EXPECT_EQ(int8_t(b[2 + 16]), 0);
}

// vec_dot_ref against a double-precision dot of the same dequantized weights. Bound: a float
// sum of n products in order has error <= n * eps * sum |w x| (Higham's gamma_n), products
// being exact to eps each.
TEST(VecDotRef, MatchesDoubleDotOfDequantizedRow) {
  std::mt19937 rng(7);
  std::normal_distribution<float> g(0, 1);
  std::vector<DType> types(std::begin(kQuantTypes), std::end(kQuantTypes));
  types.insert(types.end(), {DType::F32, DType::F16, DType::BF16});
  for (DType t : types) {
    const int bs = dtype_info(t).block_size;
    for (int64_t n : {int64_t(bs), int64_t(bs) * 3, bs == 1 ? int64_t(333) : int64_t(bs) * 7}) {
      SCOPED_TRACE(std::string(dtype_name(t)) + " n=" + std::to_string(n));
      std::vector<float> w(static_cast<size_t>(n)), x(static_cast<size_t>(n));
      for (auto& v : w) v = g(rng);
      for (auto& v : x) v = g(rng);
      // Store the row at an odd address: the decoders must not assume aligned fields.
      std::vector<uint8_t> buf(dtype_row_bytes(t, n).value() + 1);
      quantize_row(t, w.data(), buf.data() + 1, n);
      std::vector<float> wd(static_cast<size_t>(n));
      dequantize_row(t, buf.data() + 1, wd.data(), n);
      double ref = 0, mag = 0;
      for (int64_t i = 0; i < n; ++i) {
        ref += double(wd[i]) * x[i];
        mag += std::fabs(double(wd[i]) * x[i]);
      }
      const float got = vec_dot_ref(t, buf.data() + 1, x.data(), n);
      EXPECT_NEAR(got, ref, double(n + 1) * 6e-8 * mag);
    }
  }
}

}  // namespace
}  // namespace dsrt
