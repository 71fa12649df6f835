#include "quant_tool/calibrate.h"

#include <mutex>
#include <span>

#include "backends/backend.h"
#include "models/deepseek.h"
#include "models/dense.h"

namespace dsrt {
namespace {

using PtrMap = std::map<const void*, std::string>;

class RecordingSource final : public TensorSource {
 public:
  RecordingSource(std::shared_ptr<const TensorSource> inner, std::shared_ptr<PtrMap> ptrs)
      : inner_(std::move(inner)), ptrs_(std::move(ptrs)) {}
  bool has(const std::string& n) const override { return inner_->has(n); }
  Result<Tensor> get(const std::string& n) const override {
    Result<Tensor> t = inner_->get(n);
    if (t.ok() && t.value().shape.size() == 2) {
      std::lock_guard<std::mutex> lock(mu_);
      (*ptrs_)[t.value().data] = n;
    }
    return t;
  }
  std::string file_name(const std::string& n) const override { return inner_->file_name(n); }

 private:
  std::shared_ptr<const TensorSource> inner_;
  std::shared_ptr<PtrMap> ptrs_;
  mutable std::mutex mu_;
};

class RecordingBackend final : public Backend {
 public:
  RecordingBackend(std::shared_ptr<Backend> inner, std::shared_ptr<PtrMap> ptrs, ActStatsMap* stats)
      : be_(std::move(inner)), ptrs_(std::move(ptrs)), stats_(stats) {}
  std::string name() const override { return "record(" + be_->name() + ")"; }
  bool supports(Op op, DType t) const override { return be_->supports(op, t); }
  void matmul(const Tensor& x, const Tensor& w, Tensor& y) override {
    record(w, x.f32(), x.rows(), x.cols());
    be_->matmul(x, w, y);
  }
  void matmul_xw(const Tensor& x, const Tensor& w, Tensor& y) override { be_->matmul_xw(x, w, y); }
  void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) override { be_->rms_norm(x, w, eps, y); }
  void rope(const RopeArgs& a) override { be_->rope(a); }
  void softmax(Tensor& x) override { be_->softmax(x); }
  void silu_mul(const Tensor& g, const Tensor& u, Tensor& y) override { be_->silu_mul(g, u, y); }
  void add(const Tensor& x, Tensor& y) override { be_->add(x, y); }
  void embedding(const Tensor& t, const int32_t* ids, int64_t n, Tensor& y) override { be_->embedding(t, ids, n, y); }
  void attention(const AttentionArgs& a) override { be_->attention(a); }
  void moe_route(const Tensor& logits, const MoeRouteArgs& a, Tensor& ids, Tensor& w) override {
    be_->moe_route(logits, a, ids, w);
  }
  void moe_ffn(const Tensor& x, const Tensor& ids, const Tensor& weights, const std::vector<ExpertWeights>& experts,
               Tensor& y) override {
    const int64_t N = x.rows(), D = x.cols(), K = ids.cols();
    std::vector<std::vector<int64_t>> rows(experts.size());
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < K; ++j) {
        const int32_t e = ids.ptr<int32_t>()[i * K + j];
        if (e >= 0 && size_t(e) < experts.size()) rows[size_t(e)].push_back(i);
      }
    for (size_t e = 0; e < experts.size(); ++e) {
      if (rows[e].empty()) continue;
      const ExpertWeights& ew = experts[e];
      const int64_t n = int64_t(rows[e].size()), f = ew.gate->shape[0];
      Tensor xe = Tensor::zeros(DType::F32, {n, D});
      for (int64_t r = 0; r < n; ++r) std::copy_n(x.f32() + rows[e][size_t(r)] * D, D, xe.f32() + r * D);
      record(*ew.gate, xe.f32(), n, D);
      record(*ew.up, xe.f32(), n, D);
      Tensor g = Tensor::zeros(DType::F32, {n, f}), u = Tensor::zeros(DType::F32, {n, f}),
             h = Tensor::zeros(DType::F32, {n, f});
      be_->matmul(xe, *ew.gate, g);
      be_->matmul(xe, *ew.up, u);
      be_->silu_mul(g, u, h);
      record(*ew.down, h.f32(), n, f);  // the down projection's input
    }
    be_->moe_ffn(x, ids, weights, experts, y);
  }

 private:
  void record(const Tensor& w, const float* x, int64_t n, int64_t k) {
    auto it = ptrs_->find(w.data);
    if (it == ptrs_->end()) return;
    ActStats& s = (*stats_)[it->second];
    if (s.sum_sq.empty()) s.sum_sq.assign(size_t(k), 0.0);
    if (int64_t(s.sum_sq.size()) != k) return;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < k; ++j) s.sum_sq[size_t(j)] += double(x[i * k + j]) * x[i * k + j];
    s.n_tokens += n;
  }
  std::shared_ptr<Backend> be_;
  std::shared_ptr<PtrMap> ptrs_;
  ActStatsMap* stats_;
};

}  // namespace

const std::string& builtin_calibration_text() {
  static const std::string kText = R"(The history of the printing press begins in the fifteenth century, when movable metal type made it possible to produce books far faster than scribes could copy them. Within fifty years, presses had spread to more than two hundred cities, and the price of a book fell by an order of magnitude.

Q: What is the derivative of x^3 + 2x with respect to x?
A: d/dx (x^3 + 2x) = 3x^2 + 2. At x = 2 the slope is 14, and the tangent line is y = 14x - 16.

def merge_sorted(a, b):
    """Merge two sorted lists into one sorted list in O(len(a) + len(b))."""
    i, j, out = 0, 0, []
    while i < len(a) and j < len(b):
        if a[i] <= b[j]:
            out.append(a[i]); i += 1
        else:
            out.append(b[j]); j += 1
    return out + a[i:] + b[j:]

Shopping list: 2 kg of rice, 6 eggs, olive oil, 500 g of flour, a bunch of coriander, and milk.

人工智能正在改变我们的工作方式。大型语言模型可以回答问题、编写代码、翻译文本，但它们也会犯错，因此需要仔细验证。

In 2023 the company reported revenue of $4.2 billion, up 17% year over year; operating margin improved from 11.5% to 13.1%, while capital expenditure stayed flat at roughly $600 million.

<think>The user asks for the capital of Australia. Many people guess Sydney, but the capital is Canberra.</think>The capital of Australia is Canberra.

SELECT name, COUNT(*) AS n FROM orders WHERE created_at >= '2024-01-01' GROUP BY name ORDER BY n DESC LIMIT 10;

The mitochondria produce most of the cell's supply of adenosine triphosphate, which is used as a source of chemical energy. Photosynthesis, by contrast, stores energy from light in the bonds of glucose.
)";
  return kText;
}

Result<CalibResult> collect_activation_stats(const ModelConfig& c, std::shared_ptr<const TensorSource> src,
                                             const std::vector<int32_t>& tokens, int n_threads, int chunk) {
  CalibResult res;
  auto ptrs = std::make_shared<PtrMap>();
  auto rsrc = std::make_shared<RecordingSource>(std::move(src), ptrs);
  DSRT_ASSIGN_OR_RETURN(std::unique_ptr<Backend> be, make_backend("cpu", n_threads));
  auto rec = std::make_shared<RecordingBackend>(std::shared_ptr<Backend>(std::move(be)), ptrs, &res.stats);
  ModelOptions mo;
  mo.attn = AttnForm::Naive;  // kv_b as one matrix, so its input is recorded
  Result<std::unique_ptr<Model>> m =
      c.is_deepseek() ? load_deepseek(c, rsrc, rec, mo) : load_dense(c, rsrc, rec);
  if (!m.ok()) return m.status().with_context("calibration model");
  for (size_t i = 0; i < tokens.size(); i += size_t(chunk)) {
    const size_t n = std::min(tokens.size() - i, size_t(chunk));
    DSRT_ASSIGN_OR_RETURN(std::unique_ptr<KvCache> cache, m.value()->new_cache(int32_t(n)));
    SeqInput s;
    s.cache = cache.get();
    s.tokens = std::span<const int32_t>(tokens.data() + i, n);
    DSRT_ASSIGN_OR_RETURN(Tensor logits, m.value()->forward({s}));
    (void)logits;
    res.n_tokens += int64_t(n);
  }
  return res;
}

}  // namespace dsrt
