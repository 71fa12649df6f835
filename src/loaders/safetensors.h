// Hugging Face safetensors: single file or sharded (model.safetensors.index.json), mmap'd,
// tensors handed out as zero-copy views into the mapping. Every header field is validated
// against the file before any byte of data is touched.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/mmap_file.h"
#include "core/tensor.h"

namespace dsrt {

struct SafetensorsEntry {
  DType dtype;
  std::vector<int64_t> shape;
  size_t begin = 0, end = 0;  // offsets into the data section
};

class SafetensorsFile {
 public:
  // mode: where the bytes live (core/mmap_file.h); weight loading passes Auto.
  static Result<std::shared_ptr<SafetensorsFile>> open(const std::string& path, Residency mode = Residency::Map);
  const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }
  const std::string& path() const { return file_->path(); }
  size_t file_size() const { return file_->size(); }
  Result<Tensor> tensor(const std::string& name) const;

 private:
  std::shared_ptr<MappedFile> file_;
  size_t data_start_ = 0;
  std::map<std::string, SafetensorsEntry> entries_;
};

// All tensors of a checkpoint folder, whatever its sharding.
class WeightStore {
 public:
  // dir holds model.safetensors, or model.safetensors.index.json with its shards, or any set
  // of *.safetensors files.
  // mode Auto is resolved once for the shards together (resolve_residency of their total).
  static Result<WeightStore> open_dir(const std::string& dir, Residency mode = Residency::Map);
  bool has(const std::string& name) const { return where_.count(name) != 0; }
  Result<Tensor> get(const std::string& name) const;
  std::vector<std::string> names() const;
  size_t total_file_bytes() const;
  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;  // tensor name -> index into files_
};

// Writes tensors (name, contiguous tensor) as a safetensors file, through a temporary file
// renamed into place so a failed write never leaves a truncated `path`. Used by tests and
// tools (split/merge checkpoints, save fine-tuned weights).
Status write_safetensors(const std::string& path,
                         const std::vector<std::pair<std::string, Tensor>>& tensors);

}  // namespace dsrt
