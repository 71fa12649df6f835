// Where model weights come from, and how they are fetched with the shape and dtype the model
// expects.
//
// Model code asks for Hugging Face tensor names ("model.layers.3.self_attn.q_proj.weight")
// whatever the file format; a TensorSource answers them: SafetensorsSource straight from a
// checkpoint folder, GgufSource (models/gguf_source.h) by mapping each name to llama.cpp's
// ("blk.3.attn_q.weight"). Every mismatch is a Status naming the tensor as the file spells it.
// Matrices stay zero-copy in the file mapping (FP8 ones get their weight_scale_inv attached);
// 1-D tensors (norms, biases) are widened to F32.
#pragma once

#include <memory>
#include <string>

#include "loaders/safetensors.h"
#include "models/model.h"

namespace dsrt {

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  virtual bool has(const std::string& hf_name) const = 0;
  // The tensor with its Hugging Face shape (outermost first: [out, in] for a matrix).
  virtual Result<Tensor> get(const std::string& hf_name) const = 0;
  // How the file names this tensor, for messages ("blk.3.attn_q.weight (HF ...)").
  virtual std::string file_name(const std::string& hf_name) const { return hf_name; }
};

// A Hugging Face checkpoint folder: names are looked up as they are.
class SafetensorsSource final : public TensorSource {
 public:
  explicit SafetensorsSource(WeightStore ws) : ws_(std::move(ws)) {}
  bool has(const std::string& name) const override { return ws_.has(name); }
  Result<Tensor> get(const std::string& name) const override { return ws_.get(name); }

 private:
  WeightStore ws_;
};

class WeightLoader {
 public:
  WeightLoader(const TensorSource& src, int fp8_block, WeightStats* stats)
      : src_(src), fp8_block_(fp8_block), stats_(stats) {}
  bool has(const std::string& name) const { return src_.has(name); }
  Result<Tensor> matrix(const std::string& name, int64_t rows, int64_t cols);
  Result<Tensor> vector_f32(const std::string& name, int64_t n);

 private:
  void count(const Tensor& t);
  const TensorSource& src_;
  int fp8_block_;
  WeightStats* stats_;
};

}  // namespace dsrt
