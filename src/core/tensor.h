// Tensor: a typed view of memory with an outermost-first shape (shape[0] is the slowest
// dimension, shape.back() the contiguous one). A view may own its storage (a shared buffer)
// or point into a mapped file that outlives it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace dsrt {

struct Tensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // outermost first
  void* data = nullptr;
  std::shared_ptr<void> owner;  // keeps the storage alive (heap buffer or file mapping)
  std::string name;             // for error messages
  // FP8 block-scaled weights: scale[i / block][j / block] multiplies q[i][j] (F32, shape
  // [ceil(rows/block), ceil(cols/block)]). Null for every other tensor.
  std::shared_ptr<Tensor> block_scale;
  int32_t scale_block = 0;
  int64_t scale_row0 = 0;  // row offset of this view into block_scale (row slices of FP8)

  int64_t numel() const;
  int64_t dim(int i) const { return shape[i < 0 ? shape.size() + i : i]; }
  int64_t rows() const;  // product of all but the last dim
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }
  size_t row_bytes() const;  // bytes of one contiguous row (block-aware)
  size_t nbytes() const { return size_t(rows()) * row_bytes(); }
  bool empty() const { return data == nullptr; }
  std::string shape_str() const;

  template <class T>
  T* ptr() {
    return static_cast<T*>(data);
  }
  template <class T>
  const T* ptr() const {
    return static_cast<const T*>(data);
  }
  float* f32() {
    DSRT_CHECK_MSG(dtype == DType::F32, name + " is not F32");
    return static_cast<float*>(data);
  }
  const float* f32() const {
    DSRT_CHECK_MSG(dtype == DType::F32, name + " is not F32");
    return static_cast<const float*>(data);
  }
  // Row r of a 2-D-or-more tensor (bytes), block-aware.
  const uint8_t* row_ptr(int64_t r) const {
    return static_cast<const uint8_t*>(data) + size_t(r) * row_bytes();
  }

  // A fresh zero-filled, heap-owned tensor.
  static Tensor zeros(DType t, std::vector<int64_t> shape, std::string name = {});
  // zeros() on transparent huge pages (core/mmap_file.h) from 2 MiB: for large buffers that
  // are streamed every token and live long, such as the KV cache.
  static Tensor zeros_huge(DType t, std::vector<int64_t> shape, std::string name = {});
  // A view of rows [r0, r0+n) of this tensor sharing its storage.
  Tensor slice_rows(int64_t r0, int64_t n) const;
  // The same memory with another shape of the same element count.
  Tensor reshaped(std::vector<int64_t> shape) const;
};

// Tells the C allocator to keep freed memory for reuse instead of returning it to the system
// (glibc: fixed mmap and trim thresholds). A forward pass allocates and frees the same
// activation buffers every layer; glibc's defaults hand buffers over ~128 KiB back to the
// kernel on free, so each layer paid fresh page faults and zeroing (9% of a MoE prefill
// profile). What is kept is the working set already touched: peak RSS rose 1 - 2% on the
// models measured (docs/perf.md, session 5).
// Called once by the dsrt binary; an embedding program may call it too. No-op elsewhere.
void keep_freed_memory();

// Reads element (r, c) of a weight as float, whatever its storage (F32/F16/BF16/F8 with block
// scales). Slow; used by reference kernels and tests.
float weight_at(const Tensor& w, int64_t r, int64_t c);
// Decodes row r of a 2-D weight into out[0..cols). Every supported weight dtype.
void weight_row_to_f32(const Tensor& w, int64_t r, float* out);
// True when weight_row_to_f32 can decode this dtype.
bool weight_dtype_supported(DType t);

}  // namespace dsrt
