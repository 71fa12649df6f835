// Safetensors and config.json loading: sharded checkpoints, and every kind of bad input gets
// a clear Status naming the file, field or tensor (never a crash).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "loaders/model_config.h"
#include "loaders/safetensors.h"
#include "models/model.h"
#include "test_util.h"

namespace dsrt {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kCkpt = test::vendored_dir() + "/oracle/v3-tiny-fp8";

struct TempDir {
  std::string path;
  TempDir() {
    path = (fs::temp_directory_path() / ("dsrt_test_" + std::to_string(::getpid()) + "_" +
                                         std::to_string(counter()++)))
               .string();
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void spit(const std::string& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

// Rewrites the JSON header of a safetensors file with `edit` applied.
std::string with_header(const std::string& file, const std::function<void(json&)>& edit) {
  uint64_t n;
  std::memcpy(&n, file.data(), 8);
  json h = json::parse(file.substr(8, n));
  edit(h);
  std::string hs = h.dump();
  const uint64_t m = hs.size();
  std::string out(reinterpret_cast<const char*>(&m), 8);
  return out + hs + file.substr(8 + n);
}

Status open_status(const std::string& bytes) {
  TempDir d;
  spit(d.path + "/model.safetensors", bytes);
  auto f = SafetensorsFile::open(d.path + "/model.safetensors");
  return f.ok() ? Status::Ok() : f.status();
}

void expect_error(const Status& s, const std::string& needle) {
  ASSERT_FALSE(s.ok()) << "expected an error mentioning '" << needle << "'";
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
}

TEST(Safetensors, OpensVendoredCheckpointZeroCopy) {
  auto f = SafetensorsFile::open(kCkpt + "/model.safetensors");
  ASSERT_TRUE(f.ok()) << f.status().message();
  auto t = f.value()->tensor("model.layers.0.self_attn.q_b_proj.weight");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t.value().dtype, DType::F8_E4M3);
  EXPECT_EQ(t.value().shape, (std::vector<int64_t>{384, 128}));
  EXPECT_FALSE(f.value()->tensor("nope").ok());
}

TEST(Safetensors, BadFiles) {
  const std::string good = slurp(kCkpt + "/model.safetensors");
  expect_error(open_status(""), "too small");
  expect_error(open_status(good.substr(0, 100)), "exceeds the file");
  expect_error(open_status(good.substr(0, good.size() - 10)), "outside the data section");
  std::string garbage = good;
  garbage[9] = '!';
  expect_error(open_status(garbage), "not a valid JSON");
  const std::string name = "model.layers.0.self_attn.q_b_proj.weight";
  expect_error(open_status(with_header(good, [&](json& h) { h[name]["data_offsets"][1] = 1ull << 40; })),
               name);
  expect_error(open_status(with_header(good, [&](json& h) { h[name]["dtype"] = "Q9"; })),
               "unsupported dtype");
  expect_error(open_status(with_header(good, [&](json& h) { h[name]["shape"] = {384, 129}; })),
               "need");
  expect_error(open_status(with_header(good, [&](json& h) { h[name]["shape"] = {-1, 128}; })),
               "negative");
  expect_error(open_status(with_header(good, [&](json& h) {
                 h[name]["data_offsets"] = h["model.layers.0.self_attn.q_a_proj.weight"]["data_offsets"];
                 h[name]["shape"] = h["model.layers.0.self_attn.q_a_proj.weight"]["shape"];
               })),
               "overlap");
}

// A checkpoint folder with the vendored files, config edited by `cfg`, weights by `w`.
Status load_edited(const std::function<void(json&)>& cfg,
                   const std::function<std::string(const std::string&)>& w = nullptr) {
  TempDir d;
  json c = json::parse(slurp(kCkpt + "/config.json"));
  cfg(c);
  spit(d.path + "/config.json", c.dump());
  const std::string st = slurp(kCkpt + "/model.safetensors");
  spit(d.path + "/model.safetensors", w ? w(st) : st);
  auto m = load_model(d.path, std::shared_ptr<Backend>(make_cpu_ref_backend()));
  return m.ok() ? Status::Ok() : m.status();
}

TEST(ModelLoad, BadConfigs) {
  expect_error(load_edited([](json& c) { c.erase("hidden_size"); }), "missing required field 'hidden_size'");
  expect_error(load_edited([](json& c) { c["model_type"] = "gpt2"; }), "unsupported model_type 'gpt2'");
  expect_error(load_edited([](json& c) { c["num_hidden_layers"] = "four"; }), "'num_hidden_layers' must be an integer");
  expect_error(load_edited([](json& c) { c["n_group"] = 3; }), "n_group");
  expect_error(load_edited([](json& c) { c["scoring_func"] = "tanh"; }), "scoring_func");
  expect_error(load_edited([](json& c) { c["rope_scaling"]["type"] = "magic"; }), "rope_scaling");
  expect_error(load_edited([](json& c) { c["hidden_size"] = 512; }), "expected [1024, 512]");
  expect_error(load_edited([](json& c) { c["num_hidden_layers"] = 5; }), "model.layers.4.");
  TempDir d;
  spit(d.path + "/config.json", "{ not json");
  auto m = load_model(d.path, std::shared_ptr<Backend>(make_cpu_ref_backend()));
  expect_error(m.status(), "not a valid JSON");
  expect_error(load_model("/nonexistent/dir", std::shared_ptr<Backend>(make_cpu_ref_backend())).status(),
               "does not exist");
}

TEST(ModelLoad, MissingOrWrongTensors) {
  const std::string scale = "model.layers.1.self_attn.o_proj.weight_scale_inv";
  expect_error(load_edited([](json&) {},
                           [&](const std::string& f) {
                             return with_header(f, [&](json& h) { h.erase(scale); });
                           }),
               scale.substr(0, scale.size() - 10));
  const std::string bias = "model.layers.2.mlp.gate.e_score_correction_bias";
  expect_error(load_edited([](json&) {},
                           [&](const std::string& f) {
                             return with_header(f, [&](json& h) {
                               h[bias]["dtype"] = "I32";  // same size as F32
                             });
                           }),
               bias);
}

// The same checkpoint split into two shards with an index loads to identical logits.
TEST(ModelLoad, ShardedCheckpointMatchesSingleFile) {
  auto src = SafetensorsFile::open(kCkpt + "/model.safetensors");
  ASSERT_TRUE(src.ok());
  TempDir d;
  std::vector<std::pair<std::string, Tensor>> a, b;
  json index;
  int i = 0;
  for (const auto& [name, e] : src.value()->entries()) {
    auto t = src.value()->tensor(name);
    ASSERT_TRUE(t.ok());
    const bool first = (i++ % 2) == 0;
    (first ? a : b).push_back({name, t.value()});
    index["weight_map"][name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  ASSERT_TRUE(write_safetensors(d.path + "/model-00001-of-00002.safetensors", a).ok());
  ASSERT_TRUE(write_safetensors(d.path + "/model-00002-of-00002.safetensors", b).ok());
  spit(d.path + "/model.safetensors.index.json", index.dump());
  fs::copy_file(kCkpt + "/config.json", d.path + "/config.json");
  std::vector<int32_t> toks = {410, 130, 119, 142};
  std::vector<Tensor> out;
  for (const std::string& dir : {kCkpt, d.path}) {
    auto m = load_model(dir, std::shared_ptr<Backend>(make_backend("cpu", 1).value()));
    ASSERT_TRUE(m.ok()) << m.status().message();
    auto cache = m.value()->new_cache(8).value();
    auto r = m.value()->forward({{cache.get(), toks, false}});
    ASSERT_TRUE(r.ok());
    out.push_back(r.value());
  }
  ASSERT_EQ(out[0].numel(), out[1].numel());
  EXPECT_EQ(std::memcmp(out[0].data, out[1].data, out[0].nbytes()), 0);
  // An index that names a missing shard.
  index["weight_map"]["lm_head.weight"] = "model-00009-of-00009.safetensors";
  spit(d.path + "/model.safetensors.index.json", index.dump());
  expect_error(load_model(d.path, std::shared_ptr<Backend>(make_cpu_ref_backend())).status(),
               "model-00009-of-00009.safetensors");
}

}  // namespace
}  // namespace dsrt
