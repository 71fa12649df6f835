// GGUF reader and writer: metadata of llama.cpp-written files, every malformed-input case
// (each must come back as a Status naming the file, never a crash), and read(write(x)) == x.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

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

std::shared_ptr<GgufFile> must_open(const std::string& path) {
  auto f = GgufFile::open(path);
  EXPECT_TRUE(f.ok()) << f.status().message();
  return f.ok() ? f.value() : nullptr;
}

// A scratch directory per test process, removed at exit.
class TempDir {
 public:
  TempDir() {
    path_ = (fs::temp_directory_path() / ("dsrt_gguf_test_" + std::to_string(::getpid()))).string();
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};
TempDir& tmp() {
  static TempDir d;
  return d;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}
std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// ---- metadata of llama.cpp-written files -----------------------------------------------------

TEST(GgufMetadata, V2LiteTinyDeepseek2) {
  auto g = must_open(vendored() + "/v2lite-tiny-q4_0.gguf");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->version(), 3u);
  EXPECT_EQ(g->alignment(), 32u);
  EXPECT_EQ(g->architecture(), "deepseek2");
  EXPECT_EQ(g->kvs().size(), 40u);
  EXPECT_EQ(g->get_u32("deepseek2.block_count").value(), 4u);
  EXPECT_EQ(g->get_int("deepseek2.expert_count").value(), 16);
  EXPECT_EQ(g->get_int("deepseek2.expert_used_count").value(), 6);
  EXPECT_EQ(g->get_int("deepseek2.expert_shared_count").value(), 2);
  EXPECT_EQ(g->get_int("deepseek2.attention.kv_lora_rank").value(), 64);
  EXPECT_EQ(g->get_int("deepseek2.attention.q_lora_rank").value(), 0);
  EXPECT_EQ(g->get_int("deepseek2.attention.key_length_mla").value(), 48);
  EXPECT_EQ(g->get_int("deepseek2.attention.value_length_mla").value(), 32);
  EXPECT_EQ(g->get_int("deepseek2.rope.dimension_count").value(), 16);
  EXPECT_EQ(g->get_int("deepseek2.expert_gating_func").value(), 1);
  EXPECT_EQ(g->get_f32("deepseek2.expert_weights_scale").value(), 1.0f);
  EXPECT_EQ(g->get_f32("deepseek2.attention.layer_norm_rms_epsilon").value(), 1e-6f);
  EXPECT_FALSE(g->has("deepseek2.rope.scaling.type"));
  EXPECT_EQ(g->get_bool_or("deepseek2.expert_weights_norm", false).value(), false);
  EXPECT_EQ(g->get_string("tokenizer.ggml.model").value(), "gpt2");
  EXPECT_EQ(g->get_string("tokenizer.ggml.pre").value(), "deepseek-llm");
  auto tokens = g->get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), 1024u);
  EXPECT_EQ((*tokens)[0], "<｜begin▁of▁sentence｜>");
  EXPECT_EQ((*tokens)[2], "Ā");  // byte 0 in GPT-2's bytes_to_unicode
  auto types = g->get_int_array("tokenizer.ggml.token_type");
  ASSERT_TRUE(types.ok());
  EXPECT_EQ(types->size(), 1024u);
  EXPECT_EQ((*types)[0], 3);  // CONTROL
  EXPECT_EQ((*types)[2], 1);  // NORMAL
  auto merges = g->get_string_array("tokenizer.ggml.merges");
  ASSERT_TRUE(merges.ok());
  EXPECT_EQ(merges->size(), 766u);
  EXPECT_EQ((*merges)[0], "Ġ Ġ");
  EXPECT_EQ(g->get_int("tokenizer.ggml.bos_token_id").value(), 0);
  EXPECT_EQ(g->get_int("tokenizer.ggml.eos_token_id").value(), 1);
  EXPECT_TRUE(g->get_bool("tokenizer.ggml.add_bos_token").value());

  EXPECT_EQ(g->tensors().size(), 59u);
  // GGUF ne {32, 64, 8} (innermost first) is our outermost-first [8, 64, 32].
  const GgufTensorInfo* kb = g->find_tensor("blk.0.attn_k_b.weight");
  ASSERT_NE(kb, nullptr);
  EXPECT_EQ(kb->shape, (std::vector<int64_t>{8, 64, 32}));
  EXPECT_EQ(kb->ne(), (std::vector<int64_t>{32, 64, 8}));
  EXPECT_EQ(kb->dtype, DType::Q4_0);
  auto emb = g->tensor("token_embd.weight");
  ASSERT_TRUE(emb.ok());
  EXPECT_EQ(emb->shape, (std::vector<int64_t>{1024, 256}));
  EXPECT_EQ(emb->dtype, DType::Q4_0);
  EXPECT_EQ(emb->nbytes(), 1024u * 8 * 18);
  auto router = g->tensor("blk.1.ffn_gate_inp.weight");
  ASSERT_TRUE(router.ok());
  EXPECT_EQ(router->dtype, DType::F32);
  EXPECT_EQ(router->shape, (std::vector<int64_t>{16, 256}));
  auto out = g->tensor("output.weight");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->dtype, DType::Q6_K);
}

TEST(GgufMetadata, TinyLlamaQ2K) {
  auto g = must_open(vendored() + "/tiny-llama-q2_k.gguf");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->architecture(), "llama");
  EXPECT_EQ(g->get_int("llama.block_count").value(), 4);
  EXPECT_EQ(g->get_int("llama.attention.head_count").value(), 8);
  EXPECT_EQ(g->get_int("llama.attention.head_count_kv").value(), 2);
  EXPECT_EQ(g->get_int("llama.feed_forward_length").value(), 688);
  EXPECT_EQ(g->get_int("llama.rope.dimension_count").value(), 32);
  EXPECT_EQ(g->get_f32("llama.rope.freq_base").value(), 10000.0f);
  EXPECT_EQ(g->get_f32("llama.attention.layer_norm_rms_epsilon").value(), 1e-5f);
  EXPECT_EQ(g->get_string("tokenizer.ggml.pre").value(), "llama-bpe");
  EXPECT_EQ(g->get_int("general.file_type").value(), 10);
  auto down = g->tensor("blk.0.ffn_down.weight");
  ASSERT_TRUE(down.ok());
  EXPECT_EQ(down->dtype, DType::F16);  // ne0 688 is not a multiple of 32: llama-quantize kept F16
  EXPECT_EQ(down->shape, (std::vector<int64_t>{256, 688}));
  EXPECT_EQ(g->tensor("token_embd.weight")->dtype, DType::Q2_K);
  EXPECT_EQ(g->tensor("blk.0.attn_output.weight")->dtype, DType::Q3_K);
  // The view points into the mapping and keeps it alive after the file object is gone.
  Tensor t = g->tensor("output_norm.weight").value();
  g.reset();
  EXPECT_EQ(t.shape, (std::vector<int64_t>{256}));
  float sum = 0;
  for (int i = 0; i < 256; ++i) sum += t.f32()[i];
  EXPECT_GT(sum, 100.0f);  // norms are 1 + 0.1 N(0, 1)
}

TEST(GgufMetadata, GetterErrorsNameFileAndKey) {
  const std::string path = vendored() + "/tiny-llama-q2_k.gguf";
  auto g = must_open(path);
  ASSERT_TRUE(g);
  auto missing = g->get_int("llama.no_such_key");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(path), std::string::npos);
  EXPECT_NE(missing.status().message().find("'llama.no_such_key' is missing"), std::string::npos);
  auto wrong = g->get_f32("general.architecture");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("has type STRING"), std::string::npos);
  EXPECT_FALSE(g->get_string("llama.block_count").ok());
  EXPECT_FALSE(g->get_bool("llama.block_count").ok());
  EXPECT_FALSE(g->get_string_array("tokenizer.ggml.token_type").ok());
  EXPECT_FALSE(g->get_f32_array("tokenizer.ggml.tokens").ok());
  EXPECT_EQ(g->get_int_or("llama.absent", 7).value(), 7);
  EXPECT_FALSE(g->get_int_or("general.architecture", 7).ok());  // present but wrong type
  EXPECT_EQ(g->get_f32_or("llama.absent", 0.5f).value(), 0.5f);
  EXPECT_EQ(g->get_string_or("llama.absent", "x").value(), "x");
  auto no_tensor = g->tensor("nope.weight");
  ASSERT_FALSE(no_tensor.ok());
  EXPECT_NE(no_tensor.status().message().find("'nope.weight'"), std::string::npos);
}

TEST(GgufMetadata, SharedV3TinyYarnAndRouting) {
  const std::string dir = shared_gguf();
  if (dir.empty()) GTEST_SKIP() << "../shared is absent";
  for (const char* f : {"v3-tiny-f32.gguf", "v3-tiny-q4_k_m.gguf"}) {
    SCOPED_TRACE(f);
    auto g = must_open(dir + "/deepseek/" + f);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->architecture(), "deepseek2");
    EXPECT_EQ(g->get_string("deepseek2.rope.scaling.type").value(), "yarn");
    EXPECT_EQ(g->get_f32("deepseek2.rope.scaling.factor").value(), 4.0f);
    EXPECT_EQ(g->get_int("deepseek2.rope.scaling.original_context_length").value(), 64);
    EXPECT_EQ(g->get_f32("deepseek2.rope.scaling.yarn_log_multiplier").value(), 0.1f);
    EXPECT_EQ(g->get_f32("deepseek2.rope.scaling.yarn_beta_fast").value(), 32.0f);
    EXPECT_EQ(g->get_int("deepseek2.expert_gating_func").value(), 2);
    EXPECT_TRUE(g->get_bool("deepseek2.expert_weights_norm").value());
    EXPECT_EQ(g->get_f32("deepseek2.expert_weights_scale").value(), 2.5f);
    EXPECT_EQ(g->get_int("deepseek2.attention.q_lora_rank").value(), 128);
    EXPECT_EQ(g->get_int("deepseek2.expert_group_count").value(), 4);
    EXPECT_EQ(g->get_int("deepseek2.expert_group_used_count").value(), 2);
    EXPECT_EQ(g->get_int("deepseek2.expert_used_count").value(), 4);
    EXPECT_EQ(g->get_string("tokenizer.ggml.pre").value(), "deepseek-v3");
    EXPECT_EQ(g->tensors().size(), 70u);
    EXPECT_EQ(g->find_tensor("blk.1.exp_probs_b.bias")->shape, (std::vector<int64_t>{16}));
    EXPECT_EQ(g->find_tensor("blk.1.ffn_gate_exps.weight")->shape,
              (std::vector<int64_t>{16, 64, 256}));
  }
}

TEST(GgufMetadata, SharedEveryFileOpens) {
  const std::string dir = shared_gguf();
  if (dir.empty()) GTEST_SKIP() << "../shared is absent";
  int n = 0;
  for (const char* sub : {"deepseek", "dense", "vocab"}) {
    for (const auto& e : fs::directory_iterator(dir + "/" + sub)) {
      if (e.path().extension() != ".gguf") continue;
      SCOPED_TRACE(e.path().string());
      auto g = must_open(e.path().string());
      ASSERT_TRUE(g);
      ++n;
      EXPECT_TRUE(g->has("tokenizer.ggml.tokens"));
      if (std::string(sub) == "vocab") {
        EXPECT_TRUE(g->tensors().empty());
        continue;
      }
      const std::string arch = g->architecture();
      EXPECT_TRUE(arch == "deepseek2" || arch == "llama" || arch == "qwen2") << arch;
      EXPECT_TRUE(g->has(arch + ".block_count"));
      for (const GgufTensorInfo& ti : g->tensors()) {
        EXPECT_NE(ti.dtype, DType::Invalid) << ti.name;
        EXPECT_LE(ti.file_offset + ti.nbytes, fs::file_size(e.path())) << ti.name;
      }
      if (arch == "qwen2") {
        EXPECT_FALSE(g->has("qwen2.rope.dimension_count"));
        EXPECT_EQ(g->find_tensor("output.weight"), nullptr);  // tied embeddings
        EXPECT_EQ(g->find_tensor("blk.0.attn_k.bias")->shape, (std::vector<int64_t>{64}));
      }
    }
  }
  EXPECT_EQ(n, 14);
  auto v = must_open(dir + "/vocab/ggml-vocab-deepseek-llm.gguf");
  ASSERT_TRUE(v);
  EXPECT_GT(v->get_string_array("tokenizer.ggml.tokens")->size(), 100000u);
}

// ---- malformed input -------------------------------------------------------------------------

// A hand-assembled GGUF whose every field can be overridden, so each corruption lands on a
// known field. Default: v3, three KVs, tensors t0 (Q8_0 ne {32, 2}) and t1 (F32 ne {4}).
struct Spec {
  std::string magic = "GGUF";
  uint32_t version = 3;
  int64_t n_tensors = -1;  // -1: the real count
  int64_t n_kv = -1;
  uint64_t key_len_override = 0;  // for the first key, 0: real length
  uint32_t arr_type = 5;          // element type of "test.arr" (I32)
  uint64_t arr_count = 3;
  uint32_t value_type_override = 0xffffffff;  // of "general.architecture"
  uint32_t align_type = 4;                    // U32
  uint32_t align_value = 32;
  bool duplicate_key = false;
  bool duplicate_tensor = false;
  uint32_t t0_type = 8;  // Q8_0
  uint32_t t0_ndims = 2;
  std::vector<uint64_t> t0_ne = {32, 2};
  uint64_t t0_offset = 0;
  uint64_t t1_offset = 96;
  int nested_depth = 0;  // > 0: add "test.nested", arrays nested this deep
};

struct Bytes {
  std::vector<uint8_t> b;
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void raw(const void* p, size_t n) {
    b.insert(b.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
  }
  void str(const std::string& s, uint64_t len_override = 0) {
    u64(len_override ? len_override : s.size());
    raw(s.data(), s.size());
  }
};

std::vector<uint8_t> build(const Spec& s) {
  Bytes o;
  o.raw(s.magic.data(), 4);
  o.u32(s.version);
  const int n_t = s.duplicate_tensor ? 3 : 2;
  const int n_kv = 3 + (s.duplicate_key ? 1 : 0) + (s.nested_depth > 0 ? 1 : 0);
  o.u64(s.n_tensors >= 0 ? uint64_t(s.n_tensors) : n_t);
  o.u64(s.n_kv >= 0 ? uint64_t(s.n_kv) : n_kv);
  o.str("general.architecture", s.key_len_override);
  o.u32(s.value_type_override != 0xffffffff ? s.value_type_override : 8);
  o.str("llama");
  o.str("test.arr");
  o.u32(9);
  o.u32(s.arr_type);
  o.u64(s.arr_count);
  for (int32_t v : {1, 2, 3}) o.u32(uint32_t(v));
  o.str("general.alignment");
  o.u32(s.align_type);
  o.u32(s.align_value);
  if (s.duplicate_key) {
    o.str("test.arr");
    o.u32(4);
    o.u32(1);
  }
  if (s.nested_depth > 0) {
    o.str("test.nested");
    o.u32(9);
    for (int d = 1; d < s.nested_depth; ++d) {
      o.u32(9);
      o.u64(1);
    }
    o.u32(4);  // innermost: one U32
    o.u64(1);
    o.u32(42);
  }
  auto tensor = [&](const std::string& name, uint32_t nd, const std::vector<uint64_t>& ne,
                    uint32_t type, uint64_t off) {
    o.str(name);
    o.u32(nd);
    for (uint32_t d = 0; d < nd; ++d) o.u64(d < ne.size() ? ne[d] : 1);
    o.u32(type);
    o.u64(off);
  };
  tensor("t0", s.t0_ndims, s.t0_ne, s.t0_type, s.t0_offset);
  tensor("t1", 1, {4}, 0, s.t1_offset);
  if (s.duplicate_tensor) tensor("t0", 1, {4}, 0, 128);
  while (o.b.size() % 32) o.b.push_back(0);
  // Data: t0 68 bytes (Q8_0 2 blocks) padded to 96, t1 16 bytes, padded; extra room for the
  // duplicate.
  for (int i = 0; i < 96 + 32 + 32; ++i) o.b.push_back(uint8_t(i));
  return o.b;
}

std::string write_case(const std::string& name, const std::vector<uint8_t>& b) {
  const std::string p = tmp().file(name + ".gguf");
  write_bytes(p, b);
  return p;
}

// Opens a corrupted file and expects an error mentioning the file and `what`.
void expect_error(const std::string& name, const Spec& s, const std::string& what) {
  SCOPED_TRACE(name);
  const std::string p = write_case(name, build(s));
  auto g = GgufFile::open(p);
  ASSERT_FALSE(g.ok()) << "opened a corrupt file";
  const std::string& m = g.status().message();
  EXPECT_NE(m.find(p), std::string::npos) << m;
  EXPECT_NE(m.find(what), std::string::npos) << m;
}

TEST(GgufBadInput, BaselineIsValid) {
  const std::string p = write_case("valid", build(Spec{}));
  auto g = GgufFile::open(p);
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g.value()->tensors().size(), 2u);
  EXPECT_EQ(g.value()->get_int_array("test.arr").value(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(g.value()->find_tensor("t0")->shape, (std::vector<int64_t>{2, 32}));
  EXPECT_EQ(g.value()->find_tensor("t1")->file_offset, g.value()->data_offset() + 96);
}

TEST(GgufBadInput, HeaderErrors) {
  Spec s;
  s.magic = "GGML";
  expect_error("magic", s, "not a GGUF file");
  s = {};
  s.version = 1;
  expect_error("v1", s, "version 1 is not supported");
  s.version = 4;
  expect_error("v4", s, "unsupported GGUF version 4");
  s.version = 0x03000000;
  expect_error("big_endian", s, "big-endian");
  s = {};
  s.n_tensors = int64_t(1) << 60;
  expect_error("tensor_count", s, "tensor count");
  s = {};
  s.n_kv = int64_t(1) << 62;
  expect_error("kv_count", s, "metadata count");
  s = {};
  s.n_kv = 20;  // more entries than present: runs into the tensor infos and fails somewhere
  auto g = GgufFile::open(write_case("kv_count_small_lie", build(s)));
  EXPECT_FALSE(g.ok());
}

TEST(GgufBadInput, MetadataErrors) {
  Spec s;
  s.key_len_override = uint64_t(1) << 62;
  expect_error("key_len", s, "string length");
  s = {};
  s.value_type_override = 13;
  expect_error("value_type", s, "unknown value type 13");
  s = {};
  s.arr_type = 77;
  expect_error("arr_type", s, "unknown array element type 77");
  s = {};
  s.arr_count = uint64_t(1) << 61;
  expect_error("arr_count", s, "array of");
  s = {};
  s.arr_type = 8;  // "strings" whose lengths are the following bytes: 1 then a huge length
  expect_error("arr_strings", s, "test.arr");
  s = {};
  s.duplicate_key = true;
  expect_error("dup_key", s, "duplicate key 'test.arr'");
  s = {};
  s.nested_depth = 3;
  {
    auto g = GgufFile::open(write_case("nested_ok", build(s)));
    ASSERT_TRUE(g.ok()) << g.status().message();
    const GgufValue* v = g.value()->find("test.nested");
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->arrays[0].arrays[0].int_at(0).value(), 42);
  }
  s.nested_depth = 9;
  expect_error("nested_deep", s, "nested deeper");
  s = {};
  s.align_type = 5;  // I32
  expect_error("align_type", s, "general.alignment' has type I32");
  s.align_type = 4;
  s.align_value = 24;
  expect_error("align_pow2", s, "not a power of two");
  s.align_value = 0;
  expect_error("align_zero", s, "not a power of two");
}

TEST(GgufBadInput, TensorErrors) {
  Spec s;
  s.t0_type = 99;
  expect_error("type99", s, "tensor 't0': unknown ggml type 99");
  s = {};
  s.t0_type = 4;  // Q4_2, removed from ggml
  expect_error("type4", s, "unknown ggml type 4");
  s = {};
  s.t0_ndims = 5;
  expect_error("ndims", s, "5 dimensions");
  s = {};
  s.t0_ne = {32, uint64_t(1) << 63};
  expect_error("negative_dim", s, "negative");
  s = {};
  s.t0_ndims = 4;
  s.t0_ne = {uint64_t(1) << 40, uint64_t(1) << 40, uint64_t(1) << 40, 1};
  expect_error("overflow", s, "overflow");
  s = {};
  s.t0_ne = {32, 1000};
  expect_error("beyond_file", s, "beyond");
  s = {};
  s.t0_ne = {33, 2};
  expect_error("block_multiple", s, "not a multiple of Q8_0's block size 32");
  s = {};
  s.t1_offset = 100;
  expect_error("misaligned", s, "not a multiple of the alignment 32");
  s = {};
  s.t1_offset = 64;  // inside t0's 68 bytes
  expect_error("overlap", s, "overlaps");
  s = {};
  s.t1_offset = uint64_t(-32);
  expect_error("offset_wrap", s, "beyond");
  s = {};
  s.duplicate_tensor = true;
  expect_error("dup_tensor", s, "duplicate tensor 't0'");
}

TEST(GgufBadInput, KnownButUndecodableTypeOpensButTensorFails) {
  Spec s;
  s.t0_type = 16;  // IQ2_XXS: 256-element blocks of 66 bytes
  s.t0_ne = {256, 1};
  s.t1_offset = 96;
  const std::string p = write_case("iq2", build(s));
  auto g = GgufFile::open(p);
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g.value()->find_tensor("t0")->type_name, "IQ2_XXS");
  EXPECT_EQ(g.value()->find_tensor("t0")->dtype, DType::Invalid);
  auto t = g.value()->tensor("t0");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("IQ2_XXS"), std::string::npos);
  EXPECT_TRUE(g.value()->tensor("t1").ok());
}

// Every prefix of a valid file is an error (the last tensor's bytes are needed), never a crash.
TEST(GgufBadInput, EveryTruncationFails) {
  const std::vector<uint8_t> b = build(Spec{});
  const size_t need = b.size() - 32 - 32 + 16;  // t1 ends 16 bytes after offset 96
  for (size_t n = 0; n < need; ++n) {
    const std::string p = write_case("trunc", {b.begin(), b.begin() + long(n)});
    auto g = GgufFile::open(p);
    ASSERT_FALSE(g.ok()) << "prefix of " << n << " bytes opened";
    EXPECT_NE(g.status().message().find(p), std::string::npos);
  }
  EXPECT_TRUE(GgufFile::open(write_case("trunc", {b.begin(), b.begin() + long(need)})).ok());
}

TEST(GgufBadInput, TruncatedRealFile) {
  const std::vector<uint8_t> b = read_bytes(vendored() + "/v2lite-tiny-q4_0.gguf");
  ASSERT_GT(b.size(), 100000u);
  std::vector<size_t> cuts;
  for (size_t n = 0; n < 70000; n += 1237) cuts.push_back(n);  // through the metadata
  for (size_t n : {b.size() / 2, b.size() - 1}) cuts.push_back(n);
  for (size_t n : cuts) {
    auto g = GgufFile::open(write_case("trunc_real", {b.begin(), b.begin() + long(n)}));
    EXPECT_FALSE(g.ok()) << n;
  }
}

// Random corruption: opening must never crash, and whatever opens must be self-consistent.
TEST(GgufBadInput, RandomByteFlipsNeverCrash) {
  const std::vector<uint8_t> base = build(Spec{});
  std::mt19937 rng(2024);
  int opened = 0;
  for (int it = 0; it < 1500; ++it) {
    std::vector<uint8_t> b = base;
    const int flips = 1 + int(rng() % 4);
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] = uint8_t(rng());
    const std::string p = write_case("fuzz", b);
    auto g = GgufFile::open(p);
    if (!g.ok()) continue;
    ++opened;
    for (const GgufTensorInfo& ti : g.value()->tensors())
      EXPECT_LE(ti.file_offset + ti.nbytes, b.size());
  }
  EXPECT_GT(opened, 0);
}

// The same on real metadata (v2lite-tiny's 40 KVs with its 1024-token vocabulary and merges,
// plus one small tensor): flips land in string lengths, array counts and types.
TEST(GgufBadInput, RandomByteFlipsInRealMetadata) {
  auto g = must_open(vendored() + "/v2lite-tiny-q4_0.gguf");
  ASSERT_TRUE(g);
  GgufWriter w;
  for (const auto& [k, v] : g->kvs()) ASSERT_TRUE(w.add_kv(k, v).ok());
  ASSERT_TRUE(w.add_tensor(g->tensor("output_norm.weight").value()).ok());
  const std::string p = tmp().file("real_meta.gguf");
  ASSERT_TRUE(w.write(p).ok());
  const std::vector<uint8_t> base = read_bytes(p);
  ASSERT_TRUE(GgufFile::open(p).ok());
  std::mt19937 rng(77);
  for (int it = 0; it < 300; ++it) {
    std::vector<uint8_t> b = base;
    for (int k = 0; k < 3; ++k) b[rng() % b.size()] ^= uint8_t(1u << (rng() % 8));
    auto r = GgufFile::open(write_case("fuzz_real", b));
    if (!r.ok()) continue;
    for (const GgufTensorInfo& ti : r.value()->tensors())
      EXPECT_LE(ti.file_offset + ti.nbytes, b.size());
  }
}

TEST(GgufBadInput, NotAFile) {
  auto g = GgufFile::open(tmp().file("does_not_exist.gguf"));
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("does_not_exist.gguf"), std::string::npos);
  write_bytes(tmp().file("empty.gguf"), {});
  EXPECT_FALSE(GgufFile::open(tmp().file("empty.gguf")).ok());
}

// ---- writer ----------------------------------------------------------------------------------

TEST(GgufWriter, RoundTripEveryValueTypeAndTensor) {
  GgufWriter w;
  std::vector<std::pair<std::string, GgufValue>> kvs = {
      {"general.architecture", GgufValue::make_string("deepseek2")},
      {"general.alignment", GgufValue::make_u32(64)},
      {"t.u8", GgufValue::make_u8(250)},
      {"t.i8", GgufValue::make_i8(-100)},
      {"t.u16", GgufValue::make_u16(65000)},
      {"t.i16", GgufValue::make_i16(-32000)},
      {"t.u32", GgufValue::make_u32(4000000000u)},
      {"t.i32", GgufValue::make_i32(-2000000000)},
      {"t.u64", GgufValue::make_u64(~uint64_t(0))},
      {"t.i64", GgufValue::make_i64(INT64_MIN)},
      {"t.f32", GgufValue::make_f32(0.1f)},
      {"t.f64", GgufValue::make_f64(0.1)},
      {"t.bool", GgufValue::make_bool(true)},
      {"t.str", GgufValue::make_string(std::string("with\0nul and ü", 15))},
      {"t.empty_str", GgufValue::make_string("")},
      {"t.strs", GgufValue::make_string_array({"a", "", "ccc"})},
      {"t.empty_arr", GgufValue::make_i32_array({})},
      {"t.i32s", GgufValue::make_i32_array({1, -2, 3})},
      {"t.f32s", GgufValue::make_f32_array({0.5f, -1.25f})},
      {"t.bools", GgufValue::make_bool_array({true, false})},
      {"t.i64s", GgufValue::make_i64_array({INT64_MAX})},
      {"t.nested", GgufValue::make_array_of_arrays(
                       {GgufValue::make_u32_array({1, 2}), GgufValue::make_string_array({"x"})})},
  };
  for (auto& [k, v] : kvs) ASSERT_TRUE(w.add_kv(k, v).ok()) << k;

  // Tensors of several types, shapes and sizes that are not multiples of the alignment.
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> src(512 * 3);
  for (auto& v : src) v = g(rng);
  struct T {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<T> ts = {{"f32.1d", DType::F32, {5}, {}},
                       {"q4k.2d", DType::Q4_K, {3, 512}, {}},
                       {"q8_0.3d", DType::Q8_0, {2, 3, 64}, {}},
                       {"f16.2d", DType::F16, {3, 7}, {}},
                       {"empty", DType::F32, {0, 4}, {}}};
  for (T& t : ts) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    t.bytes.resize(dtype_row_bytes(t.type, n).value());
    if (n) quantize_row(t.type, src.data(), t.bytes.data(), n);
    ASSERT_TRUE(w.add_tensor(t.name, t.type, t.shape, t.bytes.data(), t.bytes.size()).ok())
        << t.name;
  }
  const std::string p = tmp().file("roundtrip.gguf");
  ASSERT_TRUE(w.write(p).ok());
  EXPECT_FALSE(fs::exists(p + ".tmp." + std::to_string(::getpid())));

  auto r = GgufFile::open(p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const GgufFile& f = *r.value();
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.kvs(), kvs);
  ASSERT_EQ(f.tensors().size(), ts.size());
  for (size_t k = 0; k < ts.size(); ++k) {
    const GgufTensorInfo& ti = f.tensors()[k];
    EXPECT_EQ(ti.name, ts[k].name);
    EXPECT_EQ(ti.shape, ts[k].shape);
    EXPECT_EQ(ti.dtype, ts[k].type);
    EXPECT_EQ(ti.file_offset % 64, 0u);
    auto t = f.tensor(ti.name);
    ASSERT_TRUE(t.ok());
    ASSERT_EQ(t->nbytes(), ts[k].bytes.size());
    if (!ts[k].bytes.empty()) {
      EXPECT_EQ(std::memcmp(t->data, ts[k].bytes.data(), t->nbytes()), 0);
    }
  }
  EXPECT_EQ(f.find("t.u64")->u, ~uint64_t(0));
  EXPECT_FALSE(f.get_int("t.u64").ok());  // above INT64_MAX
  EXPECT_EQ(f.get_f32_array("t.f32s").value(), (std::vector<float>{0.5f, -1.25f}));
}

// Re-writing a llama.cpp file through GgufWriter reproduces it byte for byte: same KV order,
// same tensor order, same per-tensor padding to the alignment.
TEST(GgufWriter, RewritesLlamaCppFileByteForByte) {
  for (const char* name : {"tiny-llama-q2_k.gguf", "v2lite-tiny-q4_0.gguf"}) {
    SCOPED_TRACE(name);
    const std::string src = vendored() + "/" + name;
    auto g = must_open(src);
    ASSERT_TRUE(g);
    GgufWriter w;
    for (const auto& [k, v] : g->kvs()) ASSERT_TRUE(w.add_kv(k, v).ok()) << k;
    for (const GgufTensorInfo& ti : g->tensors())
      ASSERT_TRUE(w.add_tensor(g->tensor(ti.name).value()).ok());
    const std::string out = tmp().file(std::string("rewrite_") + name);
    ASSERT_TRUE(w.write(out).ok());
    EXPECT_TRUE(read_bytes(out) == read_bytes(src));
  }
}

TEST(GgufWriter, RejectsBadInput) {
  GgufWriter w;
  ASSERT_TRUE(w.add_kv("a", GgufValue::make_u32(1)).ok());
  EXPECT_FALSE(w.add_kv("a", GgufValue::make_u32(2)).ok());
  EXPECT_FALSE(w.add_kv("general.alignment", GgufValue::make_u32(48)).ok());
  EXPECT_FALSE(w.add_kv("general.alignment", GgufValue::make_i32(64)).ok());
  GgufValue bad = GgufValue::make_i32_array({1, 2});
  bad.count = 3;
  EXPECT_FALSE(w.add_kv("bad", bad).ok());
  std::vector<uint8_t> buf(1024);
  EXPECT_FALSE(
      w.add_tensor("x", DType::Q8_0, {2, 33}, buf.data(), 68).ok());  // not a block multiple
  EXPECT_FALSE(w.add_tensor("x", DType::Q8_0, {2, 32}, buf.data(), 67).ok());  // wrong size
  EXPECT_FALSE(w.add_tensor(std::string(64, 'n'), DType::F32, {1}, buf.data(), 4).ok());
  EXPECT_FALSE(w.add_tensor("x", DType::F8_E4M3, {4}, buf.data(), 4).ok());  // not a ggml type
  EXPECT_FALSE(w.add_tensor("x", DType::F32, {1, 1, 1, 1, 1}, buf.data(), 4).ok());
  ASSERT_TRUE(w.add_tensor("x", DType::F32, {4}, buf.data(), 16).ok());
  EXPECT_FALSE(w.add_tensor("x", DType::F32, {4}, buf.data(), 16).ok());
  auto st = w.write(tmp().file("no_such_dir/out.gguf"));
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no_such_dir"), std::string::npos);
}

}  // namespace
}  // namespace dsrt
