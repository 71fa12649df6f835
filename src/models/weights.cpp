#include "models/weights.h"

namespace dsrt {

void WeightLoader::count(const Tensor& t) {
  stats_->n_params += t.numel();
  stats_->weight_bytes += t.nbytes();
  const std::string dt(dtype_name(t.dtype));
  for (auto& [name, n] : stats_->params_by_dtype)
    if (name == dt) {
      n += t.numel();
      return;
    }
  stats_->params_by_dtype.push_back({dt, t.numel()});
}

Result<Tensor> WeightLoader::matrix(const std::string& name, int64_t rows, int64_t cols) {
  DSRT_ASSIGN_OR_RETURN(Tensor t, src_.get(name));
  if (t.shape != std::vector<int64_t>{rows, cols})
    return Status::Error("tensor '" + src_.file_name(name) + "' has shape " + t.shape_str() + ", expected [" +
                         std::to_string(rows) + ", " + std::to_string(cols) + "]");
  if (!weight_dtype_supported(t.dtype))
    return Status::Error("tensor '" + src_.file_name(name) + "' has unsupported dtype " +
                         std::string(dtype_name(t.dtype)));
  count(t);
  if (t.dtype == DType::F8_E4M3) {
    // DeepSeek-V3 FP8: w = q * weight_scale_inv[i/B][j/B] (a multiply, despite the name).
    const std::string sname = name + "_scale_inv";
    if (!src_.has(sname))
      return Status::Error("FP8 tensor '" + name + "' has no '" + sname + "' beside it");
    DSRT_ASSIGN_OR_RETURN(Tensor s, src_.get(sname));
    const int64_t b = fp8_block_ > 0 ? fp8_block_ : 128;
    const std::vector<int64_t> want = {(rows + b - 1) / b, (cols + b - 1) / b};
    if (s.shape != want)
      return Status::Error("tensor '" + sname + "' has shape " + s.shape_str() + ", expected [" +
                           std::to_string(want[0]) + ", " + std::to_string(want[1]) +
                           "] for " + std::to_string(b) + "x" + std::to_string(b) + " blocks");
    if (s.dtype != DType::F32) {
      if (s.dtype != DType::BF16)
        return Status::Error("tensor '" + sname + "' must be F32 or BF16");
      Tensor f = Tensor::zeros(DType::F32, s.shape, sname);
      for (int64_t i = 0; i < s.numel(); ++i) f.f32()[i] = bf16_to_f32(s.ptr<uint16_t>()[i]);
      s = f;
    }
    t.block_scale = std::make_shared<Tensor>(s);
    t.scale_block = int32_t(b);
    stats_->weight_bytes += s.nbytes();
  }
  return t;
}

Result<Tensor> WeightLoader::vector_f32(const std::string& name, int64_t n) {
  DSRT_ASSIGN_OR_RETURN(Tensor t, src_.get(name));
  if (t.shape != std::vector<int64_t>{n})
    return Status::Error("tensor '" + src_.file_name(name) + "' has shape " + t.shape_str() + ", expected [" +
                         std::to_string(n) + "]");
  if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16)
    return Status::Error("tensor '" + src_.file_name(name) + "' has unsupported dtype " +
                         std::string(dtype_name(t.dtype)) + " for a vector");
  count(t);
  Tensor f = Tensor::zeros(DType::F32, {n}, name);
  Tensor row = t.reshaped({1, n});
  weight_row_to_f32(row, 0, f.f32());
  return f;
}

}  // namespace dsrt
