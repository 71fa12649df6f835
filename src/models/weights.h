// Fetches named weights from a checkpoint with the shape and dtype the model expects; every
// mismatch is a Status naming the tensor. Matrices stay zero-copy in the file mapping (FP8
// ones get their weight_scale_inv attached); 1-D tensors (norms, biases) are widened to F32.
#pragma once

#include <string>

#include "loaders/safetensors.h"
#include "models/model.h"

namespace dsrt {

class WeightLoader {
 public:
  WeightLoader(const WeightStore& store, int fp8_block, WeightStats* stats)
      : store_(store), fp8_block_(fp8_block), stats_(stats) {}
  bool has(const std::string& name) const { return store_.has(name); }
  Result<Tensor> matrix(const std::string& name, int64_t rows, int64_t cols);
  Result<Tensor> vector_f32(const std::string& name, int64_t n);

 private:
  void count(const Tensor& t);
  const WeightStore& store_;
  int fp8_block_;
  WeightStats* stats_;
};

}  // namespace dsrt
