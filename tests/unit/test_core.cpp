#include <gtest/gtest.h>

#include <atomic>
#include <cmath>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "core/dtype.h"
#include "core/mmap_file.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace dsrt {
namespace {

TEST(Status, ResultCarriesValueOrError) {
  Result<int> a = 3;
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value(), 3);
  Result<int> b = Status::Error("bad key 'x'");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(), "bad key 'x'");
  EXPECT_EQ(b.status().with_context("file.json").message(), "file.json: bad key 'x'");
}

TEST(DType, Bf16RoundTripAndRounding) {
  for (float f : {0.0f, 1.0f, -2.5f, 3.140625f, 1e-30f, 65504.0f}) {
    EXPECT_EQ(bf16_to_f32(f32_to_bf16(f)), bf16_to_f32(f32_to_bf16(bf16_to_f32(f32_to_bf16(f)))));
  }
  // 1 + 2^-8 is exactly halfway between two bf16 values; ties go to even (1.0).
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + std::ldexp(1.0f, -8))), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8))), 1.0f + std::ldexp(1.0f, -6));
}

TEST(DType, F16AllCodesRoundTrip) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(f32_to_f16(f), uint16_t(h)) << h;
  }
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f32_to_f16(70000.0f), 0x7c00);
}

TEST(DType, E4m3Table) {
  EXPECT_EQ(e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(e4m3_to_f32(0xfe), -448.0f);
  EXPECT_TRUE(std::isnan(e4m3_to_f32(0x7f)));
  EXPECT_TRUE(std::isnan(e4m3_to_f32(0xff)));
  EXPECT_EQ(e4m3_to_f32(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(e4m3_to_f32(0x08), std::ldexp(1.0f, -6));  // smallest normal
  EXPECT_EQ(e4m3_to_f32(0x38), 1.0f);
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7f) == 0x7f) continue;
    EXPECT_EQ(f32_to_e4m3(e4m3_to_f32(uint8_t(c))), c == 0x80 ? 0x80 : c) << c;
  }
  EXPECT_EQ(f32_to_e4m3(1000.0f), 0x7e);  // saturates
}

TEST(Tensor, RowBytesAndSlices) {
  Tensor t = Tensor::zeros(DType::F32, {4, 3}, "t");
  EXPECT_EQ(t.nbytes(), 48u);
  for (int i = 0; i < 12; ++i) t.f32()[i] = float(i);
  Tensor s = t.slice_rows(1, 2);
  EXPECT_EQ(s.f32()[0], 3.0f);
  EXPECT_EQ(s.rows(), 2);
  auto q = dtype_row_bytes(DType::Q4_K, 512);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q.value(), 288u);
  EXPECT_FALSE(dtype_row_bytes(DType::Q4_K, 100).ok());
}

TEST(ThreadPool, CoversRangeExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(n);
      for (int rep = 0; rep < 20; ++rep)
        pool.parallel_for(n, [&](int64_t b, int64_t e, int) {
          for (int64_t i = b; i < e; ++i) hits[i]++;
        });
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 20);
    }
  }
}

// Many back-to-back jobs of changing size, with and without the spin phase (spin 0 puts the
// workers to sleep after every job, exercising the wake-up hand-shake): every element of
// every job is run exactly once, by a valid thread index, and no job leaks into the next.
TEST(ThreadPool, BackToBackJobsAreIsolated) {
  for (int spin : {0, 200}) {
    for (int threads : {2, 3, 5}) {
      ThreadPool pool(threads, spin);
      std::vector<std::atomic<int>> hits(64);
      std::atomic<int> bad_index{0};
      for (int rep = 0; rep < 3000; ++rep) {
        const int64_t n = 1 + (rep * 7) % 64;
        pool.parallel_for(n, [&](int64_t b, int64_t e, int th) {
          if (th < 0 || th >= threads) bad_index++;
          for (int64_t i = b; i < e; ++i) hits[i] += rep;
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].exchange(0), rep) << "rep " << rep;
        for (int64_t i = n; i < 64; ++i) ASSERT_EQ(hits[i].load(), 0);
      }
      EXPECT_EQ(bad_index.load(), 0);
    }
  }
}

// Weight files mapped in place or read into huge-page memory give the same bytes; the copy is
// 2 MiB aligned, read-only, and the choice follows the explicit mode, then the process default.
TEST(MappedFile, MapAndHugePageCopyHoldTheSameBytes) {
  const std::string path = ::testing::TempDir() + "/dsrt_mapped_" + std::to_string(getpid()) + ".bin";
  std::vector<char> bytes(size_t(3) << 20 | 12345);  // not a multiple of the huge page
  std::mt19937 rng(3);
  for (char& c : bytes) c = char(rng());
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  auto m = MappedFile::open(path, Residency::Map);
  auto c = MappedFile::open(path, Residency::Copy);
  ASSERT_TRUE(m.ok() && c.ok());
  EXPECT_FALSE(m.value()->copied());
  EXPECT_TRUE(c.value()->copied());
  ASSERT_EQ(c.value()->size(), bytes.size());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(c.value()->data()) % (size_t(2) << 20), 0u);
  EXPECT_EQ(std::memcmp(c.value()->data(), bytes.data(), bytes.size()), 0);
  EXPECT_EQ(std::memcmp(m.value()->data(), bytes.data(), bytes.size()), 0);
  // Auto: a file below kCopyMinBytes stays mapped; the process default overrides the rule.
  EXPECT_EQ(resolve_residency(bytes.size(), Residency::Auto), Residency::Map);
  EXPECT_EQ(resolve_residency(bytes.size(), Residency::Copy), Residency::Copy);
  set_default_residency(Residency::Copy);
  EXPECT_EQ(resolve_residency(bytes.size(), Residency::Auto), Residency::Copy);
  EXPECT_EQ(resolve_residency(bytes.size(), Residency::Map), Residency::Map);
  set_default_residency(Residency::Auto);
  EXPECT_FALSE(MappedFile::open(path + ".missing", Residency::Copy).ok());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace dsrt
