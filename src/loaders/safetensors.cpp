#include "loaders/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace dsrt {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A header larger than this is not a model header (the largest real ones are a few MB).
constexpr uint64_t kMaxHeader = 256ull << 20;

bool parse_dtype(const std::string& s, DType* t) {
  static const std::pair<const char*, DType> kMap[] = {
      {"F32", DType::F32},     {"F16", DType::F16}, {"BF16", DType::BF16},
      {"F8_E4M3", DType::F8_E4M3}, {"I8", DType::I8}, {"I16", DType::I16},
      {"I32", DType::I32},     {"I64", DType::I64}, {"F64", DType::F64},
  };
  for (const auto& [n, d] : kMap)
    if (s == n) {
      *t = d;
      return true;
    }
  return false;
}

}  // namespace

Result<std::shared_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path, Residency mode) {
  auto f = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  DSRT_ASSIGN_OR_RETURN(f->file_, MappedFile::open(path, mode));
  const size_t size = f->file_->size();
  auto err = [&](const std::string& m) { return Status::Error(path + ": " + m); };
  if (size < 8) return err("file too small for a safetensors header (" + std::to_string(size) + " bytes)");
  uint64_t n = 0;
  std::memcpy(&n, f->file_->data(), 8);  // little-endian u64 header length
  if (n > kMaxHeader || n > size - 8)
    return err("header length " + std::to_string(n) + " exceeds the file (" +
               std::to_string(size) + " bytes): truncated or not a safetensors file");
  json h = json::parse(f->file_->data() + 8, f->file_->data() + 8 + n, nullptr, false);
  if (h.is_discarded() || !h.is_object()) return err("header is not a valid JSON object");
  f->data_start_ = 8 + n;
  const size_t data_size = size - f->data_start_;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const std::string& name = it.key();
    const json& e = it.value();
    auto terr = [&](const std::string& m) { return err("tensor '" + name + "': " + m); };
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") ||
        !e.contains("data_offsets"))
      return terr("entry needs dtype, shape and data_offsets");
    SafetensorsEntry ent;
    if (!e["dtype"].is_string() || !parse_dtype(e["dtype"].get<std::string>(), &ent.dtype))
      return terr("unsupported dtype " + e["dtype"].dump());
    if (!e["shape"].is_array()) return terr("shape is not an array");
    uint64_t numel = 1;
    for (const json& d : e["shape"]) {
      if (!d.is_number_unsigned()) return terr("shape has a non-integer or negative dim");
      const uint64_t v = d.get<uint64_t>();
      if (v != 0 && numel > (uint64_t(1) << 50) / v) return terr("shape is absurdly large");
      numel *= v;
      ent.shape.push_back(int64_t(v));
    }
    const json& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
        !off[1].is_number_unsigned())
      return terr("data_offsets must be two non-negative integers");
    ent.begin = off[0].get<uint64_t>();
    ent.end = off[1].get<uint64_t>();
    if (ent.begin > ent.end || ent.end > data_size)
      return terr("data_offsets [" + std::to_string(ent.begin) + ", " + std::to_string(ent.end) +
                  "] lie outside the data section (" + std::to_string(data_size) +
                  " bytes): the header lies or the file is truncated");
    const uint64_t want = numel * uint64_t(dtype_info(ent.dtype).block_bytes);
    if (ent.end - ent.begin != want)
      return terr("holds " + std::to_string(ent.end - ent.begin) + " bytes but its shape and " +
                  std::string(dtype_name(ent.dtype)) + " need " + std::to_string(want));
    if (ent.end > ent.begin) ranges.push_back({ent.begin, ent.end});
    f->entries_[name] = std::move(ent);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      return err("two tensors' data ranges overlap at offset " + std::to_string(ranges[i].first));
  return f;
}

Result<Tensor> SafetensorsFile::tensor(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return Status::Error(path() + ": no tensor '" + name + "'");
  const SafetensorsEntry& e = it->second;
  Tensor t;
  t.dtype = e.dtype;
  t.shape = e.shape;
  t.name = name;
  t.data = const_cast<uint8_t*>(file_->data() + data_start_ + e.begin);
  t.owner = file_;
  return t;
}

Result<WeightStore> WeightStore::open_dir(const std::string& dir, Residency mode) {
  WeightStore ws;
  std::vector<std::string> paths;
  const std::string index = dir + "/model.safetensors.index.json";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::Error(dir + " is not a directory");
  if (fs::exists(index)) {
    DSRT_ASSIGN_OR_RETURN(std::string text, read_text_file(index));
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") ||
        !j["weight_map"].is_object())
      return Status::Error(index + ": not a valid index (needs an object 'weight_map')");
    for (auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string()) return Status::Error(index + ": weight_map['" + name + "'] is not a string");
      const std::string f = file.get<std::string>();
      if (f.find('/') != std::string::npos || f.find("..") != std::string::npos)
        return Status::Error(index + ": shard name '" + f + "' must be a plain file name");
      if (std::find(paths.begin(), paths.end(), f) == paths.end()) paths.push_back(f);
    }
  } else {
    for (const auto& de : fs::directory_iterator(dir, ec))
      if (de.path().extension() == ".safetensors") paths.push_back(de.path().filename().string());
    std::sort(paths.begin(), paths.end());
  }
  if (paths.empty()) return Status::Error(dir + ": no *.safetensors files");
  size_t total = 0;
  for (const std::string& p : paths) {
    const auto n = fs::file_size(dir + "/" + p, ec);
    if (!ec) total += size_t(n);
  }
  const Residency where = resolve_residency(total, mode);
  for (const std::string& p : paths) {
    DSRT_ASSIGN_OR_RETURN(auto f, SafetensorsFile::open(dir + "/" + p, where));
    for (const auto& [name, e] : f->entries()) {
      if (ws.where_.count(name))
        return Status::Error(dir + ": tensor '" + name + "' appears in two shards");
      ws.where_[name] = ws.files_.size();
    }
    ws.files_.push_back(std::move(f));
  }
  return ws;
}

Result<Tensor> WeightStore::get(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) return Status::Error("checkpoint has no tensor '" + name + "'");
  return files_[it->second]->tensor(name);
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> v;
  for (const auto& [n, i] : where_) v.push_back(n);
  return v;
}

Status write_safetensors(const std::string& path,
                         const std::vector<std::pair<std::string, Tensor>>& tensors) {
  json h = json::object();
  h["__metadata__"] = {{"format", "pt"}};
  size_t off = 0;
  for (const auto& [name, t] : tensors) {
    const char* dt = nullptr;
    switch (t.dtype) {
      case DType::F32: dt = "F32"; break;
      case DType::F16: dt = "F16"; break;
      case DType::BF16: dt = "BF16"; break;
      case DType::F8_E4M3: dt = "F8_E4M3"; break;
      case DType::I32: dt = "I32"; break;
      case DType::I64: dt = "I64"; break;
      case DType::I8: dt = "I8"; break;
      default: return Status::Error("write_safetensors: tensor '" + name + "' has dtype " +
                                    std::string(dtype_name(t.dtype)) + ", which safetensors cannot store");
    }
    h[name] = {{"dtype", dt}, {"shape", t.shape}, {"data_offsets", {off, off + t.nbytes()}}};
    off += t.nbytes();
  }
  std::string hs = h.dump();
  while ((8 + hs.size()) % 8) hs += ' ';  // keep the data section 8-byte aligned
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return Status::Error("cannot write " + tmp);
  const uint64_t n = hs.size();
  bool ok = std::fwrite(&n, 8, 1, f) == 1 && std::fwrite(hs.data(), 1, hs.size(), f) == hs.size();
  for (const auto& [name, t] : tensors)
    ok = ok && std::fwrite(t.data, 1, t.nbytes(), f) == t.nbytes();
  ok = std::fclose(f) == 0 && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    return Status::Error("write to " + tmp + " failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status::Error("cannot rename " + tmp + " to " + path);
  }
  return Status::Ok();
}

size_t WeightStore::total_file_bytes() const {
  size_t s = 0;
  for (const auto& f : files_) s += f->file_size();
  return s;
}

}  // namespace dsrt
