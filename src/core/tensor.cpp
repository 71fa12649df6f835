#include "core/tensor.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cstring>

#include "core/mmap_file.h"
#include "core/quant.h"

namespace dsrt {

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t Tensor::rows() const {
  int64_t n = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) n *= shape[i];
  return n;
}

size_t Tensor::row_bytes() const {
  auto r = dtype_row_bytes(dtype, cols());
  DSRT_CHECK_MSG(r.ok(), name + ": " + r.status().message());
  return r.value();
}

std::string Tensor::shape_str() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 256 << 20);  // blocks up to 256 MiB come from the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);    // and stay there for the next layer
#endif
}

namespace {
// A tensor's header without storage.
Tensor header(DType t, std::vector<int64_t> shape, std::string name) {
  Tensor x;
  x.dtype = t;
  x.shape = std::move(shape);
  x.name = std::move(name);
  return x;
}
}  // namespace

Tensor Tensor::zeros(DType t, std::vector<int64_t> shape, std::string name) {
  Tensor x = header(t, std::move(shape), std::move(name));
  const size_t n = x.nbytes();
  // 64-byte aligned storage so SIMD loads of whole rows never straddle a cache line start.
  void* p = ::operator new[](n == 0 ? 64 : n, std::align_val_t(64));
  std::memset(p, 0, n);
  x.owner = std::shared_ptr<void>(p, [](void* q) { ::operator delete[](q, std::align_val_t(64)); });
  x.data = p;
  return x;
}

Tensor Tensor::zeros_huge(DType t, std::vector<int64_t> shape, std::string name) {
  Tensor x = header(t, std::move(shape), std::move(name));
  const size_t n = x.nbytes();
  std::shared_ptr<uint8_t> p = n >= (size_t(2) << 20) ? alloc_huge(n) : nullptr;
  if (!p) return zeros(t, std::move(x.shape), std::move(x.name));
  x.data = p.get();  // fresh anonymous pages are zero already
  x.owner = std::move(p);
  return x;
}

Tensor Tensor::slice_rows(int64_t r0, int64_t n) const {
  DSRT_CHECK(!shape.empty() && r0 >= 0 && r0 + n <= shape[0]);
  Tensor v = *this;
  const size_t inner = shape[0] == 0 ? 0 : nbytes() / size_t(shape[0]);
  v.data = static_cast<uint8_t*>(data) + size_t(r0) * inner;
  v.shape[0] = n;
  DSRT_CHECK_MSG(!block_scale || shape.size() == 2, name + ": only 2-D FP8 weights slice");
  if (block_scale) v.scale_row0 += r0;  // keep the block grid aligned to the parent
  return v;
}

Tensor Tensor::reshaped(std::vector<int64_t> s) const {
  Tensor v = *this;
  v.shape = std::move(s);
  DSRT_CHECK_MSG(v.numel() == numel(), name + ": reshape changes element count");
  return v;
}

bool weight_dtype_supported(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F8_E4M3 ||
         quant_can_dequantize(t);
}

void weight_row_to_f32(const Tensor& w, int64_t r, float* out) {
  const int64_t n = w.cols();
  const uint8_t* row = w.row_ptr(r);
  switch (w.dtype) {
    case DType::F32:
      std::memcpy(out, row, size_t(n) * 4);
      return;
    case DType::F16: {
      const uint16_t* h = reinterpret_cast<const uint16_t*>(row);
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(h[i]);
      return;
    }
    case DType::BF16: {
      const uint16_t* h = reinterpret_cast<const uint16_t*>(row);
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(h[i]);
      return;
    }
    case DType::F8_E4M3: {
      // DeepSeek's weight_dequant: w = e4m3(q) * scale_inv[r/B][c/B], one float32 multiply.
      DSRT_CHECK_MSG(w.block_scale != nullptr, w.name + ": FP8 weight without block scale");
      const int64_t b = w.scale_block;
      const float* s = w.block_scale->f32() + ((r + w.scale_row0) / b) * w.block_scale->cols();
      for (int64_t i = 0; i < n; ++i) out[i] = e4m3_to_f32(row[i]) * s[i / b];
      return;
    }
    default:
      DSRT_CHECK_MSG(quant_can_dequantize(w.dtype),
                     w.name + ": weight dtype " + std::string(dtype_name(w.dtype)) +
                         " has no row decoder");
      dequantize_row(w.dtype, row, out, n);
  }
}

float weight_at(const Tensor& w, int64_t r, int64_t c) {
  const uint8_t* row = w.row_ptr(r);
  switch (w.dtype) {
    case DType::F32:
      return reinterpret_cast<const float*>(row)[c];
    case DType::F16:
      return f16_to_f32(reinterpret_cast<const uint16_t*>(row)[c]);
    case DType::BF16:
      return bf16_to_f32(reinterpret_cast<const uint16_t*>(row)[c]);
    case DType::F8_E4M3: {
      DSRT_CHECK_MSG(w.block_scale != nullptr, w.name + ": FP8 weight without block scale");
      const int64_t b = w.scale_block;
      return e4m3_to_f32(row[c]) *
             w.block_scale->f32()[((r + w.scale_row0) / b) * w.block_scale->cols() + c / b];
    }
    default:
      DSRT_CHECK_MSG(false, w.name + ": weight dtype has no element reader");
  }
  return 0;
}

}  // namespace dsrt
