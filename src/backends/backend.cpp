#include "backends/backend.h"

#ifdef DSRT_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace dsrt {

void Backend::moe_ffn_shared(const Tensor& x, const Tensor& ids, const Tensor& weights,
                             const std::vector<ExpertWeights>& experts, const ExpertWeights& shared,
                             Tensor& y) {
  moe_ffn(x, ids, weights, experts, y);
  const int64_t n = x.rows(), f = shared.gate->rows();
  Tensor g = Tensor::zeros(DType::F32, {n, f}), u = Tensor::zeros(DType::F32, {n, f});
  Tensor z = Tensor::zeros(DType::F32, {n, x.cols()});
  matmul_batch({{&x, shared.gate, &g}, {&x, shared.up, &u}});
  silu_mul(g, u, g);
  matmul(g, *shared.down, z);
  add(z, y);
}

namespace {
constexpr const char* kOpNames[] = {"matmul",  "matmul_xw", "rms_norm",  "rope",
                                    "softmax", "silu_mul",  "add",       "embedding",
                                    "attention", "moe_route", "moe_ffn"};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) == size_t(Op::kCount));

class FallbackBackend final : public Backend {
 public:
  FallbackBackend(std::unique_ptr<Backend> p, std::unique_ptr<Backend> f)
      : p_(std::move(p)), f_(std::move(f)) {}
  std::string name() const override { return p_->name(); }
  bool supports(Op op, DType wt) const override {
    return p_->supports(op, wt) || f_->supports(op, wt);
  }
  void matmul(const Tensor& x, const Tensor& w, Tensor& y) override {
    pick(Op::Matmul, w.dtype).matmul(x, w, y);
  }
  void matmul_batch(const std::vector<MatmulJob>& jobs) override {
    bool primary = true;
    for (const MatmulJob& j : jobs) primary = primary && p_->supports(Op::Matmul, j.w->dtype);
    if (primary) return p_->matmul_batch(jobs);
    for (const MatmulJob& j : jobs) matmul(*j.x, *j.w, *j.y);
  }
  void matmul_xw(const Tensor& x, const Tensor& w, Tensor& y) override {
    pick(Op::MatmulXW, w.dtype).matmul_xw(x, w, y);
  }
  bool fast_matmul_xw() const override { return p_->fast_matmul_xw(); }
  void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) override {
    pick(Op::RmsNorm).rms_norm(x, w, eps, y);
  }
  void rope(const RopeArgs& a) override { pick(Op::Rope).rope(a); }
  void softmax(Tensor& x) override { pick(Op::Softmax).softmax(x); }
  void silu_mul(const Tensor& g, const Tensor& u, Tensor& y) override {
    pick(Op::SiluMul).silu_mul(g, u, y);
  }
  void add(const Tensor& x, Tensor& y) override { pick(Op::Add).add(x, y); }
  void embedding(const Tensor& t, const int32_t* ids, int64_t n, Tensor& y) override {
    pick(Op::Embedding, t.dtype).embedding(t, ids, n, y);
  }
  void attention(const AttentionArgs& a) override { pick(Op::Attention).attention(a); }
  void attention_batch(const std::vector<AttentionArgs>& list) override {
    pick(Op::Attention).attention_batch(list);
  }
  void moe_route(const Tensor& l, const MoeRouteArgs& a, Tensor& ids, Tensor& w) override {
    pick(Op::MoeRoute).moe_route(l, a, ids, w);
  }
  void moe_ffn(const Tensor& x, const Tensor& ids, const Tensor& w,
               const std::vector<ExpertWeights>& e, Tensor& y) override {
    const DType wt = e.empty() ? DType::F32 : e[0].gate->dtype;
    pick(Op::MoeFfn, wt).moe_ffn(x, ids, w, e, y);
  }
  void moe_ffn_shared(const Tensor& x, const Tensor& ids, const Tensor& w,
                      const std::vector<ExpertWeights>& e, const ExpertWeights& sh, Tensor& y) override {
    const DType wt = e.empty() ? DType::F32 : e[0].gate->dtype;
    if (p_->supports(Op::MoeFfn, wt) && p_->supports(Op::MoeFfn, sh.gate->dtype) &&
        p_->supports(Op::MoeFfn, sh.down->dtype))
      return p_->moe_ffn_shared(x, ids, w, e, sh, y);
    Backend::moe_ffn_shared(x, ids, w, e, sh, y);  // routed and shared parts routed separately
  }

 private:
  Backend& pick(Op op, DType wt = DType::F32) {
    if (p_->supports(op, wt)) return *p_;
    DSRT_CHECK_MSG(f_->supports(op, wt), std::string("no backend runs ") + op_name(op) +
                                             " on " + std::string(dtype_name(wt)));
    return *f_;
  }
  std::unique_ptr<Backend> p_, f_;
};

// "cuda" or "cuda:N": the GPU, with the CPU backend for the ops it does not run.
Result<std::unique_ptr<Backend>> make_cuda_by_name(const std::string& name, int n_threads) {
#ifdef DSRT_HAVE_CUDA
  int device = 0;
  if (name.size() > 4) {
    const std::string idx = name.substr(5);
    if (idx.empty() || idx.size() > 4 || idx.find_first_not_of("0123456789") != std::string::npos)
      return Status::Error("backend '" + name + "': expected cuda or cuda:N, N a device index");
    device = std::stoi(idx);
  }
  DSRT_ASSIGN_OR_RETURN(auto gpu, make_cuda_backend(device));
  DSRT_ASSIGN_OR_RETURN(auto cpu, make_backend("cpu", n_threads));
  return make_fallback_backend(std::move(gpu), std::move(cpu));
#else
  return Status::Error("backend '" + name +
                       "': this dsrt was built without CUDA (configure with -DDSRT_CUDA=ON)");
#endif
}
}  // namespace

const char* op_name(Op op) { return kOpNames[int(op)]; }

bool op_from_name(const std::string& name, Op* op) {
  for (int i = 0; i < int(Op::kCount); ++i)
    if (name == kOpNames[i]) {
      *op = Op(i);
      return true;
    }
  return false;
}

std::unique_ptr<Backend> make_fallback_backend(std::unique_ptr<Backend> primary,
                                               std::unique_ptr<Backend> fallback) {
  return std::make_unique<FallbackBackend>(std::move(primary), std::move(fallback));
}

// "cuda" is listed only where a device answers, so loops over every backend (the op tests,
// dsrt test-ops) also run on machines without one; make_backend("cuda") says why it cannot
// start there.
std::vector<std::string> backend_names() {
  std::vector<std::string> v = {"cpu", "cpu-generic", "cpu-decode", "cpu-ref"};
#ifdef DSRT_HAVE_CUDA
  static const bool have_device = cuda_device_count() > 0;
  if (have_device) v.push_back("cuda");
#endif
  return v;
}

Result<std::unique_ptr<Backend>> make_backend(const std::string& name, int n_threads) {
  if (name == "cpu-ref") return make_cpu_ref_backend();
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) return make_cuda_by_name(name, n_threads);
  CpuOptOptions opt;
  if (name == "cpu-generic") {
    opt.quant = QuantKernels::Generic;
  } else if (name == "cpu-decode") {
    opt.quant = QuantKernels::DecodeF32;
  } else if (name != "cpu") {
    return Status::Error("unknown backend '" + name + "' (known: cpu, cpu-generic, cpu-decode, cpu-ref)");
  }
  return make_fallback_backend(make_cpu_opt_backend(std::make_shared<ThreadPool>(n_threads), opt),
                               make_cpu_ref_backend());
}

}  // namespace dsrt
