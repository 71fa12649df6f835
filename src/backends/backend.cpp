#include "backends/backend.h"

namespace dsrt {

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
  void matmul_xw(const Tensor& x, const Tensor& w, Tensor& y) override {
    pick(Op::MatmulXW, w.dtype).matmul_xw(x, w, y);
  }
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
  void moe_route(const Tensor& l, const MoeRouteArgs& a, Tensor& ids, Tensor& w) override {
    pick(Op::MoeRoute).moe_route(l, a, ids, w);
  }
  void moe_ffn(const Tensor& x, const Tensor& ids, const Tensor& w,
               const std::vector<ExpertWeights>& e, Tensor& y) override {
    const DType wt = e.empty() ? DType::F32 : e[0].gate->dtype;
    pick(Op::MoeFfn, wt).moe_ffn(x, ids, w, e, y);
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

std::vector<std::string> backend_names() { return {"cpu", "cpu-ref"}; }

Result<std::unique_ptr<Backend>> make_backend(const std::string& name, int n_threads) {
  if (name == "cpu-ref") return make_cpu_ref_backend();
  if (name == "cpu")
    return make_fallback_backend(make_cpu_opt_backend(std::make_shared<ThreadPool>(n_threads)),
                                 make_cpu_ref_backend());
  return Status::Error("unknown backend '" + name + "' (known: cpu, cpu-ref)");
}

}  // namespace dsrt
