// CudaBackend: host side of the CUDA backend. Owns one device, one stream and one cuBLAS
// handle; keeps a device copy of every weight it has seen (keyed by the host view), and
// grow-only scratch buffers for the activations that each op copies in and out.
//
// Matmul dispatch (y = x * W^T, float32 accumulation everywhere):
//   n <= 8 rows:  decode-on-the-fly GEMV (memory bound: weights read once, in their own
//                 format, from HBM);
//   n > 8 rows:   cuBLAS SGEMM (cublasGemmEx, CUDA_R_32F, CUBLAS_COMPUTE_32F: no TF32) on the
//                 F32 weight, or on row chunks of the weight decoded to F32 in scratch.
// Both keep the op-test harness's float32 bound; a BF16 tensor-core path (x rounded to BF16)
// would be faster for prefill but is a precision choice the contract does not make today.
#include "backends/cuda/cuda_backend.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "backends/cuda/gpu_runtime.h"
#include "backends/cuda/kernels.h"

namespace dsrt {
namespace {

using cuda::DeviceWeight;

// A cudaMalloc'd buffer (never managed memory: see docs/cuda.md).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes_) DSRT_GPU_CHECK(gpuMalloc(&ptr_, bytes_));
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) {
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (ptr_) gpuFree(ptr_);
  }
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Scratch slots reused across ops; a slot grows when an op needs more and never shrinks.
enum Slot { kX, kY, kDeq, kAux0, kAux1, kAux2, kAux3, kAux4, kAux5, kAux6, kAux7, kSlotCount };

// Row chunk of a decoded weight for the cuBLAS path: 64 MiB of float32 at most.
constexpr size_t kDequantBudget = size_t(64) << 20;

struct WeightKey {
  const void* data;
  DType dtype;
  int64_t rows, cols, scale_row0;
  bool operator==(const WeightKey&) const = default;
};
struct WeightKeyHash {
  size_t operator()(const WeightKey& k) const {
    return std::hash<const void*>()(k.data) ^ (size_t(k.rows) * 0x9e3779b97f4a7c15ull) ^
           size_t(k.cols) ^ (size_t(k.dtype) << 48) ^ size_t(k.scale_row0 << 20);
  }
};

class CudaBackend final : public Backend {
 public:
  static Result<std::unique_ptr<Backend>> create(int device) {
    std::string why;
    const int count = cuda_device_count(&why);
    if (count == 0) return Status::Error("cuda backend: no CUDA device: " + why);
    if (device < 0 || device >= count)
      return Status::Error("cuda backend: device " + std::to_string(device) + " requested, " +
                           std::to_string(count) + " present");
    auto be = std::unique_ptr<CudaBackend>(new CudaBackend(device));
    if (gpuSetDevice(device) != gpuSuccess)
      return Status::Error("cuda backend: cannot select device " + std::to_string(device));
    gpuDeviceProp prop;
    DSRT_GPU_CHECK(gpuGetDeviceProperties(&prop, device));
    be->device_name_ = prop.name;
    DSRT_GPU_CHECK(gpuStreamCreateWithFlags(&be->stream_, gpuStreamNonBlocking));
    if (cublasCreate(&be->blas_) != CUBLAS_STATUS_SUCCESS)
      return Status::Error("cuda backend: cuBLAS initialisation failed on " + be->device_name_);
    DSRT_BLAS_CHECK(cublasSetStream(be->blas_, be->stream_));
    // True float32 products (no TF32): the harness bounds assume float32 rounding.
    DSRT_BLAS_CHECK(cublasSetMathMode(be->blas_, CUBLAS_PEDANTIC_MATH));
    be->host_ = make_cpu_ref_backend();
    return std::unique_ptr<Backend>(std::move(be));
  }

  ~CudaBackend() override {
    gpuSetDevice(device_);
    weights_.clear();
    scales_.clear();
    for (auto& b : scratch_) b = DeviceBuffer();
    if (blas_) cublasDestroy(blas_);
    if (stream_) gpuStreamDestroy(stream_);
  }

  std::string name() const override { return "cuda:" + std::to_string(device_); }

  bool supports(Op op, DType wt) const override {
    switch (op) {
      case Op::Matmul:
      case Op::MatmulXW:
      case Op::Embedding:
      case Op::MoeFfn:
        return cuda::weight_dtype_on_device(wt);
      default:
        return op < Op::kCount;
    }
  }

  void matmul(const Tensor& x, const Tensor& w, Tensor& y) override {
    select();
    const int64_t n = x.rows(), k = x.cols(), m = w.rows();
    DSRT_CHECK_MSG(x.dtype == DType::F32, "matmul x must be F32");
    DSRT_CHECK_MSG(w.cols() == k, "matmul: " + w.name + " has " + std::to_string(w.cols()) +
                                      " columns, x has " + std::to_string(k));
    DSRT_CHECK(y.rows() == n && y.cols() == m && y.dtype == DType::F32);
    const DeviceWeight& dw = weight(w);
    float* dx = upload(kX, x.f32(), n * k);
    float* dy = scratch<float>(kY, n * m);
    matmul_dev(dw, dx, n, dy);
    download(y.f32(), dy, n * m);
  }

  void matmul_xw(const Tensor& x, const Tensor& w, Tensor& y) override {
    select();
    const int64_t n = x.rows(), k = x.cols(), m = w.cols();
    DSRT_CHECK_MSG(x.dtype == DType::F32, "matmul_xw x must be F32");
    DSRT_CHECK(w.rows() == k && y.rows() == n && y.cols() == m);
    const DeviceWeight& dw = weight(w);
    float* dx = upload(kX, x.f32(), n * k);
    float* dy = scratch<float>(kY, n * m);
    cuda::launch_matmul_xw(dw, dx, n, dy, stream_);
    download(y.f32(), dy, n * m);
  }

  void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) override {
    select();
    const int64_t n = x.rows(), d = x.cols();
    DSRT_CHECK(w.numel() == d && w.dtype == DType::F32 && y.rows() == n && y.cols() == d);
    const DeviceWeight& dw = weight(w);
    float* dx = upload(kX, x.f32(), n * d);
    float* dy = scratch<float>(kY, n * d);
    cuda::launch_rms_norm(dx, reinterpret_cast<const float*>(dw.data), eps, n, d, dy, stream_);
    download(y.f32(), dy, n * d);
  }

  void rope(const RopeArgs& a) override {
    select();
    if (a.n_tok == 0 || a.n_head == 0 || a.rope_dim == 0) return;
    // The strided region from the first to the last rotated element travels whole, so the
    // untouched elements between heads come back unchanged.
    const int64_t extent =
        (a.n_tok - 1) * a.stride_tok + (a.n_head - 1) * a.stride_head + a.rope_dim;
    cuda::RopeDev d;
    d.x = upload(kX, a.x, extent);
    d.n_tok = a.n_tok;
    d.n_head = a.n_head;
    d.stride_tok = a.stride_tok;
    d.stride_head = a.stride_head;
    d.rope_dim = a.rope_dim;
    d.pos = upload(kAux0, a.pos, a.n_tok);
    d.inv_freq = upload(kAux1, a.inv_freq, a.rope_dim / 2);
    d.attn_factor = a.attn_factor;
    d.interleaved = a.interleaved;
    cuda::launch_rope(d, stream_);
    download(a.x, d.x, extent);
  }

  void softmax(Tensor& x) override {
    select();
    const int64_t n = x.rows(), d = x.cols();
    float* dx = upload(kX, x.f32(), n * d);
    cuda::launch_softmax(dx, n, d, stream_);
    download(x.f32(), dx, n * d);
  }

  void silu_mul(const Tensor& g, const Tensor& u, Tensor& y) override {
    select();
    const int64_t n = g.numel();
    DSRT_CHECK(u.numel() == n && y.numel() == n);
    float* dg = upload(kX, g.f32(), n);
    float* du = upload(kAux0, u.f32(), n);
    float* dy = scratch<float>(kY, n);
    cuda::launch_silu_mul(dg, du, dy, n, stream_);
    download(y.f32(), dy, n);
  }

  void add(const Tensor& x, Tensor& y) override {
    select();
    const int64_t n = x.numel();
    DSRT_CHECK(y.numel() == n);
    float* dx = upload(kX, x.f32(), n);
    float* dy = upload(kY, y.f32(), n);
    cuda::launch_add(dx, dy, n, stream_);
    download(y.f32(), dy, n);
  }

  void embedding(const Tensor& table, const int32_t* ids, int64_t n, Tensor& y) override {
    select();
    DSRT_CHECK(y.rows() == n && y.cols() == table.cols());
    for (int64_t i = 0; i < n; ++i) DSRT_CHECK(ids[i] >= 0 && ids[i] < table.rows());
    const DeviceWeight& dw = weight(table);
    const int32_t* di = upload(kAux0, ids, n);
    float* dy = scratch<float>(kY, n * table.cols());
    cuda::launch_embedding(dw, di, n, dy, stream_);
    download(y.f32(), dy, n * table.cols());
  }

  void attention(const AttentionArgs& a) override {
    select();
    DSRT_CHECK(a.n_head_kv > 0 && a.n_head % a.n_head_kv == 0);
    if (a.n_tok == 0 || a.n_head == 0) return;
    int32_t max_pos = 0;
    for (int64_t t = 0; t < a.n_tok; ++t) max_pos = std::max(max_pos, a.q_pos[t]);
    const int64_t n_vis = std::min<int64_t>(int64_t(max_pos) + 1, a.n_kv);
    // Only the cache rows some query can see travel: rows 0..n_vis-1, or the blocks of the
    // table that hold them.
    int64_t max_row = n_vis - 1, n_blocks = 0;
    if (a.kv_block_table) {
      n_blocks = (n_vis + a.kv_block_size - 1) / a.kv_block_size;
      max_row = 0;
      for (int64_t b = 0; b < n_blocks; ++b)
        max_row = std::max<int64_t>(
            max_row, int64_t(a.kv_block_table[b]) * a.kv_block_size + a.kv_block_size - 1);
    }
    cuda::AttentionDev d;
    const int64_t q_ext = (a.n_tok - 1) * a.q_stride_tok + (a.n_head - 1) * a.q_stride_head + a.d_k;
    const int64_t o_ext = (a.n_tok - 1) * a.o_stride_tok + (a.n_head - 1) * a.o_stride_head + a.d_v;
    d.q = upload(kX, a.q, q_ext);
    if (n_vis > 0) {
      const int64_t k_ext = max_row * a.k_stride_tok + (a.n_head_kv - 1) * a.k_stride_head + a.d_k;
      const int64_t v_ext = max_row * a.v_stride_tok + (a.n_head_kv - 1) * a.v_stride_head + a.d_v;
      // MLA's absorbed form reads keys and values from the same cache rows: one copy.
      const float* lo = std::min(a.k, a.v);
      const float* hi = std::max(a.k + k_ext, a.v + v_ext);
      if (hi - lo <= k_ext + v_ext) {
        const float* base = upload(kAux0, lo, hi - lo);
        d.k = base + (a.k - lo);
        d.v = base + (a.v - lo);
      } else {
        d.k = upload(kAux0, a.k, k_ext);
        d.v = upload(kAux1, a.v, v_ext);
      }
    } else {
      d.k = d.v = nullptr;
    }
    d.q_stride_tok = a.q_stride_tok;
    d.q_stride_head = a.q_stride_head;
    d.k_stride_tok = a.k_stride_tok;
    d.k_stride_head = a.k_stride_head;
    d.v_stride_tok = a.v_stride_tok;
    d.v_stride_head = a.v_stride_head;
    d.o_stride_tok = a.o_stride_tok;
    d.o_stride_head = a.o_stride_head;
    d.n_tok = a.n_tok;
    d.n_kv = a.n_kv;
    d.n_head = a.n_head;
    d.n_head_kv = a.n_head_kv;
    d.d_k = a.d_k;
    d.d_v = a.d_v;
    d.scale = a.scale;
    d.q_pos = upload(kAux2, a.q_pos, a.n_tok);
    d.kv_block_table = a.kv_block_table ? upload(kAux3, a.kv_block_table, n_blocks) : nullptr;
    d.kv_block_size = a.kv_block_size;
    // The output region travels in first so the gaps between strided heads come back intact.
    d.out = upload(kY, a.out, o_ext);
    cuda::launch_attention(d, stream_);
    download(a.out, d.out, o_ext);
  }

  void moe_route(const Tensor& logits, const MoeRouteArgs& a, Tensor& ids,
                 Tensor& weights) override {
    select();
    const int64_t n = logits.rows(), ne = logits.cols();
    DSRT_CHECK(ne % a.n_group == 0 && a.top_k <= ne && a.topk_group <= a.n_group);
    DSRT_CHECK(ids.dtype == DType::I32 && ids.rows() == n && ids.cols() == a.top_k);
    DSRT_CHECK(weights.rows() == n && weights.cols() == a.top_k);
    cuda::MoeRouteDev d;
    d.scoring_sigmoid = a.scoring == ScoringFunc::Sigmoid;
    d.bias = a.bias ? upload(kAux0, a.bias, ne) : nullptr;
    d.n_group = a.n_group;
    d.topk_group = a.topk_group;
    d.top_k = a.top_k;
    d.group_by_top2_sum = a.group_by_top2_sum;
    d.norm_topk_prob = a.norm_topk_prob;
    d.routed_scaling_factor = a.routed_scaling_factor;
    const float* dl = upload(kX, logits.f32(), n * ne);
    int32_t* di = scratch<int32_t>(kAux1, n * a.top_k);
    float* dw = scratch<float>(kY, n * a.top_k);
    cuda::launch_moe_route(dl, n, ne, d, di, dw, stream_);
    copy_out(ids.ptr<int32_t>(), di, size_t(n * a.top_k) * sizeof(int32_t));
    download(weights.f32(), dw, n * a.top_k);
  }

  // Grouped by expert: the rows routed to one expert are gathered into one batch, run through
  // gate/up/down as matmuls (GEMV for a few rows, cuBLAS for many), and scattered to their
  // (token, slot) place; a last kernel sums the slots in order with the routing weights.
  void moe_ffn(const Tensor& x, const Tensor& ids, const Tensor& weights,
               const std::vector<ExpertWeights>& experts, Tensor& y) override {
    const int64_t n = x.rows(), d = x.cols(), k = ids.cols();
    for (const ExpertWeights& e : experts)
      for (const Tensor* t : {e.gate, e.up, e.down})
        if (!cuda::weight_dtype_on_device(t->dtype))
          return host_->moe_ffn(x, ids, weights, experts, y);  // mixed types: rare, slow
    select();
    DSRT_CHECK(ids.dtype == DType::I32 && ids.rows() == n && weights.numel() == n * k);
    // Host-side grouping: for each expert, its token rows and (token, slot) destinations.
    std::vector<std::vector<int32_t>> tok(experts.size()), dst(experts.size());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < k; ++j) {
        const int32_t e = ids.ptr<int32_t>()[i * k + j];
        DSRT_CHECK(e >= 0 && size_t(e) < experts.size());
        tok[e].push_back(int32_t(i));
        dst[e].push_back(int32_t(i * k + j));
      }
    std::vector<int32_t> index;  // all experts' lists back to back: [tok..., dst...] each
    std::vector<size_t> offset(experts.size());
    int64_t max_rows = 0, max_f = 0;
    for (size_t e = 0; e < experts.size(); ++e) {
      offset[e] = index.size();
      index.insert(index.end(), tok[e].begin(), tok[e].end());
      index.insert(index.end(), dst[e].begin(), dst[e].end());
      max_rows = std::max<int64_t>(max_rows, int64_t(tok[e].size()));
      if (!tok[e].empty()) max_f = std::max(max_f, experts[e].gate->rows());
    }
    const float* dx = upload(kX, x.f32(), n * d);
    const int32_t* didx = upload(kAux0, index.data(), int64_t(index.size()));
    const float* dwt = upload(kAux1, weights.f32(), n * k);
    float* parts = scratch<float>(kAux2, n * k * d);
    float* xe = scratch<float>(kAux3, max_rows * d);
    float* g = scratch<float>(kAux4, max_rows * max_f);
    float* u = scratch<float>(kAux5, max_rows * max_f);
    float* o = scratch<float>(kAux6, max_rows * d);
    for (size_t e = 0; e < experts.size(); ++e) {
      const int64_t cnt = int64_t(tok[e].size());
      if (cnt == 0) continue;
      const ExpertWeights& ew = experts[e];
      const int64_t f = ew.gate->rows();
      DSRT_CHECK(ew.gate->cols() == d && ew.up->rows() == f && ew.down->rows() == d &&
                 ew.down->cols() == f);
      const int32_t* dt = didx + offset[e];
      cuda::launch_gather_rows(dx, dt, cnt, d, xe, stream_);
      matmul_dev(weight(*ew.gate), xe, cnt, g);
      matmul_dev(weight(*ew.up), xe, cnt, u);
      cuda::launch_silu_mul(g, u, g, cnt * f, stream_);
      matmul_dev(weight(*ew.down), g, cnt, o);
      cuda::launch_scatter_rows(o, dt + cnt, cnt, d, parts, stream_);
    }
    float* dy = scratch<float>(kY, n * d);
    cuda::launch_weighted_sum(parts, dwt, n, k, d, dy, stream_);
    download(y.f32(), dy, n * d);
  }

 private:
  explicit CudaBackend(int device) : device_(device) {}

  void select() { DSRT_GPU_CHECK(gpuSetDevice(device_)); }

  // y[n, m] = x[n, k] * W^T on device pointers (see the dispatch note at the top).
  void matmul_dev(const DeviceWeight& w, const float* x, int64_t n, float* y) {
    const int64_t k = w.cols, m = w.rows;
    if (n == 0 || m == 0) return;
    DSRT_CHECK(k > 0);
    if (n <= cuda::kGemvMaxRows) {
      cuda::launch_gemv(w, x, n, y, m, stream_);
      return;
    }
    const float alpha = 1.0f, beta = 0.0f;
    // Row-major y[n, m] = x[n, k] W[m, k]^T is column-major y^T[m, n] = W^T^T x^T: with W as a
    // column-major [k, m] matrix, op(A) = T.
    auto gemm = [&](const float* wp, int64_t r0, int64_t mr) {
      DSRT_BLAS_CHECK(cublasGemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, int(mr), int(n), int(k), &alpha,
                                   wp, CUDA_R_32F, int(k), x, CUDA_R_32F, int(k), &beta, y + r0,
                                   CUDA_R_32F, int(m), CUBLAS_COMPUTE_32F_PEDANTIC,
                                   CUBLAS_GEMM_DEFAULT));
    };
    if (w.dtype == DType::F32) {
      gemm(reinterpret_cast<const float*>(w.data), 0, m);
      return;
    }
    const int64_t chunk =
        std::max<int64_t>(1, std::min<int64_t>(m, int64_t(kDequantBudget / (size_t(k) * 4))));
    float* deq = scratch<float>(kDeq, chunk * k);
    for (int64_t r0 = 0; r0 < m; r0 += chunk) {
      const int64_t mr = std::min(chunk, m - r0);
      cuda::launch_dequant_rows(w, r0, mr, deq, stream_);
      gemm(deq, r0, mr);
    }
  }

  template <class T>
  T* scratch(Slot s, int64_t count) {
    const size_t bytes = std::max<size_t>(size_t(count) * sizeof(T), 256);
    if (scratch_[s].bytes() < bytes) {
      // The stream may still read the old buffer: drain it before freeing.
      DSRT_GPU_CHECK(gpuStreamSynchronize(stream_));
      scratch_[s] = DeviceBuffer(bytes + bytes / 4);
    }
    return static_cast<T*>(scratch_[s].get());
  }
  template <class T>
  T* upload(Slot s, const T* host, int64_t count) {
    T* d = scratch<T>(s, count);
    if (count > 0)
      DSRT_GPU_CHECK(
          gpuMemcpyAsync(d, host, size_t(count) * sizeof(T), gpuMemcpyHostToDevice, stream_));
    return d;
  }
  // Device -> host, then wait: the op's host outputs are complete when it returns.
  void copy_out(void* host, const void* dev, size_t bytes) {
    if (bytes) DSRT_GPU_CHECK(gpuMemcpyAsync(host, dev, bytes, gpuMemcpyDeviceToHost, stream_));
    DSRT_GPU_CHECK(gpuStreamSynchronize(stream_));
  }
  void download(float* host, const float* dev, int64_t count) {
    copy_out(host, dev, size_t(count) * sizeof(float));
  }

  // The device copy of a weight, uploaded on first use. Weights are immutable while a model
  // uses them; the cache entry holds the host storage's owner, so the address cannot be freed
  // and reused by another tensor while the entry lives. A view without an owner is uploaded
  // into a one-op temporary instead.
  const DeviceWeight& weight(const Tensor& w) {
    DSRT_CHECK_MSG(
        cuda::weight_dtype_on_device(w.dtype),
        w.name + ": weight dtype " + std::string(dtype_name(w.dtype)) + " has no CUDA decoder");
    const WeightKey key{w.data, w.dtype, w.rows(), w.cols(), w.scale_row0};
    const bool cacheable = w.owner != nullptr;
    if (cacheable) {
      auto it = weights_.find(key);
      if (it != weights_.end()) return it->second.dw;
    }
    CachedWeight cw;
    cw.buf = DeviceBuffer(w.nbytes());
    cw.pin = w.owner;
    DSRT_GPU_CHECK(
        gpuMemcpyAsync(cw.buf.get(), w.data, w.nbytes(), gpuMemcpyHostToDevice, stream_));
    cw.dw.dtype = w.dtype;
    cw.dw.data = static_cast<const uint8_t*>(cw.buf.get());
    cw.dw.rows = w.rows();
    cw.dw.cols = w.cols();
    cw.dw.row_bytes = int64_t(w.row_bytes());
    if (w.dtype == DType::F8_E4M3) {
      DSRT_CHECK_MSG(w.block_scale != nullptr, w.name + ": FP8 weight without block scale");
      const Tensor& s = *w.block_scale;
      auto sit = scales_.find(s.data);
      if (sit == scales_.end()) {
        CachedScale cs;
        cs.buf = DeviceBuffer(s.nbytes());
        cs.pin = w.block_scale;
        DSRT_GPU_CHECK(
            gpuMemcpyAsync(cs.buf.get(), s.data, s.nbytes(), gpuMemcpyHostToDevice, stream_));
        sit = scales_.insert_or_assign(s.data, std::move(cs)).first;
      }
      cw.dw.scale = static_cast<const float*>(sit->second.buf.get());
      cw.dw.scale_cols = s.cols();
      cw.dw.scale_row0 = w.scale_row0;
      cw.dw.scale_block = w.scale_block;
    }
    if (!cacheable) {
      DSRT_GPU_CHECK(gpuStreamSynchronize(stream_));  // queued kernels may read the old one
      temp_ = std::move(cw);
      return temp_.dw;
    }
    return weights_.emplace(key, std::move(cw)).first->second.dw;
  }

  struct CachedWeight {
    DeviceBuffer buf;
    std::shared_ptr<void> pin;
    DeviceWeight dw;
  };
  struct CachedScale {
    DeviceBuffer buf;
    std::shared_ptr<void> pin;
  };

  int device_;
  std::string device_name_;
  gpuStream_t stream_ = nullptr;
  gpublasHandle_t blas_ = nullptr;
  std::unordered_map<WeightKey, CachedWeight, WeightKeyHash> weights_;
  std::unordered_map<const void*, CachedScale> scales_;
  CachedWeight temp_;
  DeviceBuffer scratch_[kSlotCount];
  std::unique_ptr<Backend> host_;  // cpu/ref for expert sets with a type we cannot decode
};

}  // namespace

int cuda_device_count(std::string* why) {
  int n = 0;
  const gpuError_t e = gpuGetDeviceCount(&n);
  if (e != gpuSuccess) {
    if (why) *why = gpuGetErrorString(e);
    gpuGetLastError();  // clear the sticky-free error so later calls start clean
    return 0;
  }
  if (n == 0 && why) *why = "the driver reports 0 devices";
  return n;
}

Result<std::unique_ptr<Backend>> make_cuda_backend(int device) {
  return CudaBackend::create(device);
}

}  // namespace dsrt
