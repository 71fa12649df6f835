#include "quant_tool/quantize.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "core/mmap_file.h"
#include "core/quant.h"
#include "core/thread_pool.h"
#include "loaders/gguf.h"
#include "loaders/safetensors.h"
#include "models/gguf_source.h"
#include "quant_tool/allocate.h"
#include "quant_tool/calibrate.h"
#include "quant_tool/gguf_meta.h"
#include "quant_tool/plan.h"
#include "tokenizer/tokenizer.h"

namespace dsrt {
namespace fs = std::filesystem;
namespace {

struct Input {
  ModelConfig config;
  std::shared_ptr<const TensorSource> src;
  bool hf_layout = true;
  std::string name;
  GgufKvs tok_kvs;
  std::shared_ptr<GgufFile> gguf;  // when the input is GGUF
};

bool is_gguf_path(const std::string& p) {
  FILE* f = std::fopen(p.c_str(), "rb");
  if (!f) return false;
  char m[4] = {};
  const size_t n = std::fread(m, 1, 4, f);
  std::fclose(f);
  return n == 4 && std::string(m, 4) == "GGUF";
}

Result<GgufKvs> vocab_kvs(const std::string& path, const ModelConfig& c) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::Error("--vocab " + path + " does not exist");
  if (fs::is_directory(path, ec)) return tokenizer_kvs_from_hf(path, c);
  if (!is_gguf_path(path)) return Status::Error("--vocab " + path + ": expected a .gguf file or a folder with tokenizer.json");
  DSRT_ASSIGN_OR_RETURN(std::shared_ptr<GgufFile> f, GgufFile::open(path));
  GgufKvs kv = tokenizer_kvs_from_gguf(*f);
  if (kv.empty()) return Status::Error("--vocab " + path + " has no tokenizer.* metadata");
  return kv;
}

Result<Input> open_input(const QuantizeOptions& o) {
  Input in;
  std::error_code ec;
  if (!fs::exists(o.input, ec)) return Status::Error("input " + o.input + " does not exist");
  if (fs::is_directory(o.input, ec)) {
    if (!fs::exists(o.input + "/config.json", ec))
      return Status::Error(o.input + ": not a checkpoint folder (no config.json)");
    DSRT_ASSIGN_OR_RETURN(in.config, load_model_config(o.input + "/config.json"));
    DSRT_ASSIGN_OR_RETURN(WeightStore ws, WeightStore::open_dir(o.input));
    in.src = std::make_shared<SafetensorsSource>(std::move(ws));
    in.name = fs::path(o.input).filename().string();
    if (in.name.empty()) in.name = fs::path(o.input).parent_path().filename().string();
    if (fs::exists(o.input + "/tokenizer.json", ec)) {
      DSRT_ASSIGN_OR_RETURN(in.tok_kvs, tokenizer_kvs_from_hf(o.input, in.config));
    }
  } else {
    if (!is_gguf_path(o.input))
      return Status::Error(o.input + ": expected a checkpoint folder (config.json + *.safetensors) or a GGUF file");
    DSRT_ASSIGN_OR_RETURN(in.gguf, GgufFile::open(o.input));
    DSRT_ASSIGN_OR_RETURN(in.config, model_config_from_gguf(*in.gguf));
    in.src = std::make_shared<GgufSource>(in.gguf);
    in.hf_layout = false;
    DSRT_ASSIGN_OR_RETURN(in.name, in.gguf->get_string_or("general.name", fs::path(o.input).stem().string()));
    in.tok_kvs = tokenizer_kvs_from_gguf(*in.gguf);
  }
  if (!o.vocab.empty()) {
    DSRT_ASSIGN_OR_RETURN(in.tok_kvs, vocab_kvs(o.vocab, in.config));
  }
  const int64_t nv = tokenizer_kvs_vocab(in.tok_kvs);
  if (nv >= 0 && nv != in.config.vocab_size)
    return Status::Error("the tokenizer has " + std::to_string(nv) + " tokens but the model's vocab_size is " +
                         std::to_string(in.config.vocab_size) + (o.vocab.empty() ? "" : " (--vocab " + o.vocab + ")"));
  return in;
}

Status check_paths(const QuantizeOptions& o) {
  if (o.output.empty()) return Status::Error("no output path");
  std::error_code ec;
  const fs::path out = fs::weakly_canonical(o.output, ec);
  const fs::path in = fs::weakly_canonical(o.input, ec);
  if (fs::exists(o.output, ec) && fs::exists(o.input, ec) && fs::equivalent(o.output, o.input, ec))
    return Status::Error("output " + o.output + " is the input; refusing to overwrite it");
  if (out == in) return Status::Error("output " + o.output + " is the input; refusing to overwrite it");
  if (fs::is_directory(o.output, ec)) return Status::Error("output " + o.output + " is a folder; give a .gguf file path");
  // A file inside an input checkpoint folder is allowed unless it is one of its weight files.
  if (fs::is_directory(o.input, ec) && out.parent_path() == in &&
      (out.extension() == ".safetensors" || out.filename() == "config.json"))
    return Status::Error("output " + o.output + " would replace a file of the input checkpoint");
  const fs::path dir = out.parent_path();
  if (!dir.empty() && !fs::is_directory(dir, ec)) return Status::Error("output folder " + dir.string() + " does not exist");
  return Status::Ok();
}

// Serialized size of a metadata value (GGUF v3), for the budget.
uint64_t value_bytes(const GgufValue& v) {
  switch (v.type) {
    case GgufType::STRING: return 8 + v.str.size();
    case GgufType::ARRAY: {
      uint64_t b = 4 + 8 + v.raw.size();
      for (const std::string& s : v.strings) b += 8 + s.size();
      for (const GgufValue& a : v.arrays) b += value_bytes(a) - 0;
      return b;
    }
    default: return gguf_scalar_size(v.type);
  }
}

uint64_t header_bytes(const GgufKvs& kvs, const std::vector<PlannedTensor>& plan) {
  uint64_t b = 4 + 4 + 8 + 8;
  for (const auto& [k, v] : kvs) b += 8 + k.size() + 4 + value_bytes(v);
  for (const PlannedTensor& p : plan) b += 8 + p.name.size() + 4 + 8 * p.shape.size() + 4 + 8;
  return (b + 31) / 32 * 32;
}

Result<std::vector<int32_t>> calibration_tokens(const QuantizeOptions& o, const Input& in, bool* synthetic) {
  std::string text = builtin_calibration_text();
  if (!o.calib_file.empty()) {
    DSRT_ASSIGN_OR_RETURN(text, read_text_file(o.calib_file));
  }
  Result<Tokenizer> tok = Status::Error("no tokenizer");
  std::error_code ec;
  if (!o.vocab.empty()) {
    tok = Tokenizer::load(o.vocab);
  } else if (in.gguf && !in.tok_kvs.empty()) {
    tok = Tokenizer::from_gguf(o.input);
  } else if (fs::exists(o.input + "/tokenizer.json", ec)) {
    tok = Tokenizer::from_dir(o.input);
  }
  std::vector<int32_t> ids;
  if (tok.ok()) {
    DSRT_ASSIGN_OR_RETURN(ids, tok.value().encode(text, false, false));
    *synthetic = false;
  } else {
    if (!o.calib_file.empty())
      return Status::Error("--calib needs a tokenizer: the input has none (pass --vocab)");
    // No tokenizer: a deterministic pseudo-random id stream still exercises every path.
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < o.calib_tokens; ++i) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      ids.push_back(int32_t((s >> 33) % uint64_t(in.config.vocab_size)));
    }
    *synthetic = true;
  }
  if (int(ids.size()) > o.calib_tokens) ids.resize(size_t(o.calib_tokens));
  if (ids.empty()) return Status::Error("the calibration text has no tokens");
  return ids;
}

std::string fmt_bytes(double b) {
  char s[32];
  if (b >= 1 << 30) std::snprintf(s, sizeof s, "%.2f GiB", b / (1 << 30));
  else if (b >= 1 << 20) std::snprintf(s, sizeof s, "%.2f MiB", b / (1 << 20));
  else std::snprintf(s, sizeof s, "%.1f KiB", b / 1024);
  return s;
}

std::string summarize(const std::vector<QuantizedTensor>& ts) {
  struct Acc {
    int64_t params = 0;
    uint64_t bytes = 0;
    std::map<std::string, int> types;
  };
  std::map<int, Acc> by;  // keyed by class for a stable order
  for (const QuantizedTensor& t : ts) {
    Acc& a = by[int(t.cls)];
    a.params += t.n_params;
    a.bytes += t.bytes;
    a.types[std::string(dtype_name(t.type))]++;
  }
  std::string out = "  class                      params      bpw  types\n";
  for (const auto& [c, a] : by) {
    char line[256];
    std::string types;
    for (const auto& [n, k] : a.types) types += (types.empty() ? "" : " ") + n + "x" + std::to_string(k);
    std::snprintf(line, sizeof line, "  %-24s %10lld %8.3f  %s\n", tensor_class_name(TensorClass(c)),
                  (long long)a.params, 8.0 * double(a.bytes) / double(std::max<int64_t>(a.params, 1)), types.c_str());
    out += line;
  }
  return out;
}

// Removes a file when it goes out of scope.
struct FileGuard {
  std::string path;
  ~FileGuard() {
    if (!path.empty()) std::remove(path.c_str());
  }
};

}  // namespace

Result<uint64_t> parse_size(const std::string& s) {
  if (s.empty()) return Status::Error("empty size");
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(s, &pos);
  } catch (...) {
    return Status::Error("bad size '" + s + "' (e.g. 300M, 1.5G, 123456)");
  }
  std::string unit = s.substr(pos);
  for (char& ch : unit) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  double mul = 1;
  if (unit.empty() || unit == "B") mul = 1;
  else if (unit == "K" || unit == "KB" || unit == "KIB") mul = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MIB") mul = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GIB") mul = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TB" || unit == "TIB") mul = 1024.0 * 1024 * 1024 * 1024;
  else return Status::Error("bad size unit in '" + s + "' (use K, M, G or T)");
  if (!(v > 0) || !std::isfinite(v)) return Status::Error("size '" + s + "' must be positive");
  return uint64_t(v * mul);
}

Result<QuantizeReport> quantize_model(const QuantizeOptions& o) {
  const bool adaptive = o.target_bpw > 0 || o.max_bytes > 0;
  if (o.target_bpw > 0 && o.max_bytes > 0) return Status::Error("give --target-bpw or --max-size, not both");
  if (o.target_bpw < 0) return Status::Error("--target-bpw must be positive");
  if (!adaptive && o.type.empty()) return Status::Error("no --type given (nor --target-bpw / --max-size)");
  Scheme scheme{"adaptive", DType::Q4_K, 15, false};
  if (!o.type.empty()) {
    DSRT_ASSIGN_OR_RETURN(scheme, parse_scheme(o.type));
  }
  if (adaptive && !o.type.empty())
    return Status::Error("--type and --target-bpw/--max-size are exclusive: the budget picks the types");
  DSRT_RETURN_IF_ERROR(check_paths(o));
  DSRT_ASSIGN_OR_RETURN(Input in, open_input(o));
  const ModelConfig& c = in.config;
  DSRT_ASSIGN_OR_RETURN(PlanResult plan_r, plan_tensors(c, in.src, in.hf_layout));
  std::vector<PlannedTensor>& plan = plan_r.tensors;

  QuantizeReport rep;
  rep.adaptive = adaptive;
  rep.has_tokenizer = !in.tok_kvs.empty();
  std::vector<DType> types(plan.size());
  std::vector<std::string> notes(plan.size());
  RecipeModel rm;
  rm.n_layer = c.num_hidden_layers;
  rm.n_gqa = c.is_deepseek() ? 1 : c.num_attention_heads / std::max(c.num_key_value_heads, 1);
  rm.tied_embeddings = true;
  for (const PlannedTensor& p : plan)
    if (p.name == "output.weight") rm.tied_embeddings = false;

  // Metadata first: its size counts against --max-size. file_type is patched in after an
  // adaptive choice (same size either way).
  DSRT_ASSIGN_OR_RETURN(GgufKvs kvs, model_kvs(c, in.name, scheme.file_type));
  for (auto& kv : in.tok_kvs) kvs.push_back(kv);

  if (adaptive) {
    bool synthetic = false;
    DSRT_ASSIGN_OR_RETURN(std::vector<int32_t> ids, calibration_tokens(o, in, &synthetic));
    if (o.progress)
      std::fprintf(stderr, "dsrt quantize: calibrating on %zu %stokens\n", ids.size(), synthetic ? "synthetic " : "");
    DSRT_ASSIGN_OR_RETURN(CalibResult cal, collect_activation_stats(c, in.src, ids, o.n_threads));
    rep.calib_tokens = cal.n_tokens;
    AllocOptions ao;
    ao.target_bpw = o.target_bpw;
    ao.max_bytes = o.max_bytes;
    ao.fixed_bytes = header_bytes(kvs, plan);
    ao.n_threads = o.n_threads;
    ao.n_layer = c.num_hidden_layers;
    ao.tied_embeddings = rm.tied_embeddings;
    DSRT_ASSIGN_OR_RETURN(AllocResult ar, allocate_types(plan, cal.stats, ao));
    types = ar.types;
    // general.file_type: the type holding most parameters.
    std::map<DType, int64_t> by;
    for (size_t i = 0; i < plan.size(); ++i) by[types[i]] += plan[i].numel();
    DType top = DType::F32;
    int64_t best = -1;
    for (auto& [t, n] : by)
      if (t != DType::F32 && n > best) best = n, top = t;
    for (auto& [k, v] : kvs)
      if (k == "general.file_type") v = GgufValue::make_u32(uint32_t(file_type_for(top)));
    for (size_t i = 0; i < plan.size(); ++i) {
      char s[64];
      std::snprintf(s, sizeof s, "est. weighted NMSE %.3g", ar.nmse[i]);
      if (plan[i].cls != TensorClass::Vector && plan[i].cls != TensorClass::Router) notes[i] = s;
    }
  } else {
    for (size_t i = 0; i < plan.size(); ++i) {
      const DType want = recipe_type(scheme, plan[i].cls, plan[i].layer, rm);
      types[i] = fallback_type(want, plan[i].cols(), &notes[i]);
      if (!notes[i].empty()) rep.n_fallbacks++;
    }
  }

  // Quantize tensor by tensor into a spill file beside the output, so memory holds one
  // tensor at a time; the writer then copies from its mapping.
  const std::string spill = o.output + ".data.tmp." + std::to_string(::getpid());
  FileGuard guard{spill};
  FILE* sf = std::fopen(spill.c_str(), "wb");
  if (!sf) return Status::Error("cannot create " + spill);
  std::vector<uint64_t> offsets(plan.size());
  ThreadPool pool(o.n_threads);
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t done_bytes = 0, in_bytes = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    const PlannedTensor& p = plan[i];
    const DType t = types[i];
    DSRT_CHECK_MSG(quant_can_quantize(t), "cannot encode " + std::string(dtype_name(t)));
    const int64_t R = p.rows(), C = p.cols();
    const size_t rb = dtype_row_bytes(t, C).value();
    std::vector<uint8_t> buf(size_t(R) * rb);
    std::atomic<bool> nonfinite{false};
    pool.parallel_for(R, [&](int64_t b, int64_t e, int) {
      std::vector<float> row(static_cast<size_t>(C));
      for (int64_t r = b; r < e; ++r) {
        p.row(r, row.data());
        for (float v : row)
          if (!std::isfinite(v)) {
            nonfinite = true;
            row.assign(row.size(), 0.0f);
            break;
          }
        quantize_row(t, row.data(), buf.data() + size_t(r) * rb, C);
      }
    });
    if (nonfinite) {
      std::fclose(sf);
      return Status::Error("tensor '" + in.src->file_name(p.name) + "' (" + p.name + ") holds NaN or inf values");
    }
    offsets[i] = uint64_t(std::ftell(sf));
    if (std::fwrite(buf.data(), 1, buf.size(), sf) != buf.size()) {
      std::fclose(sf);
      return Status::Error("writing " + spill + " failed (disk full?)");
    }
    done_bytes += buf.size();
    in_bytes += uint64_t(p.numel()) * 4;
    rep.tensors.push_back({p.name, p.cls, p.layer, t, p.numel(), uint64_t(buf.size()), notes[i]});
    rep.n_params += p.numel();
    if (o.progress && (isatty(2) || i + 1 == plan.size())) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "\r[%zu/%zu] tensors  %s written  %.1f MB/s (F32 in)   ", i + 1, plan.size(),
                   fmt_bytes(double(done_bytes)).c_str(), s > 0 ? double(in_bytes) / 1e6 / s : 0.0);
      std::fflush(stderr);
    }
  }
  if (o.progress) std::fprintf(stderr, "\n");
  if (std::fclose(sf) != 0) return Status::Error("writing " + spill + " failed");

  GgufWriter w;
  for (auto& [k, v] : kvs) DSRT_RETURN_IF_ERROR(w.add_kv(k, v));
  std::shared_ptr<MappedFile> mf;
  if (done_bytes > 0) {
    DSRT_ASSIGN_OR_RETURN(mf, MappedFile::open(spill, Residency::Map));
  }
  for (size_t i = 0; i < plan.size(); ++i) {
    const QuantizedTensor& q = rep.tensors[i];
    DSRT_RETURN_IF_ERROR(w.add_tensor(plan[i].name, q.type, plan[i].shape, mf->data() + offsets[i], q.bytes));
  }
  DSRT_RETURN_IF_ERROR(w.write(o.output));
  std::error_code ec;
  rep.file_bytes = uint64_t(fs::file_size(o.output, ec));
  rep.bpw = 8.0 * double(done_bytes) / double(std::max<int64_t>(rep.n_params, 1));
  rep.summary = summarize(rep.tensors);
  return rep;
}

}  // namespace dsrt
