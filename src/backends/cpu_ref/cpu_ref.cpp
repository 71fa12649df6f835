// cpu/ref: plain scalar kernels, written for clarity and kept as the oracle that every
// optimized kernel is tested against. Dot products accumulate in double so the reference is
// more accurate than any float32 kernel it judges.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backends/backend.h"

namespace dsrt {
namespace {

void check_f32_2d(const Tensor& t, const char* what) {
  DSRT_CHECK_MSG(t.dtype == DType::F32, std::string(what) + " must be F32");
}

class CpuRefBackend final : public Backend {
 public:
  std::string name() const override { return "cpu-ref"; }
  bool supports(Op op, DType wt) const override {
    if (op == Op::Matmul || op == Op::MatmulXW || op == Op::Embedding || op == Op::MoeFfn)
      return weight_dtype_supported(wt);
    return true;
  }

  void matmul(const Tensor& x, const Tensor& w, Tensor& y) override {
    check_f32_2d(x, "matmul x");
    const int64_t n = x.rows(), k = x.cols(), m = w.rows();
    DSRT_CHECK_MSG(w.cols() == k, "matmul: " + w.name + " has " + std::to_string(w.cols()) +
                                      " columns, x has " + std::to_string(k));
    DSRT_CHECK(y.rows() == n && y.cols() == m);
    std::vector<float> row(k);
    for (int64_t j = 0; j < m; ++j) {
      weight_row_to_f32(w, j, row.data());
      for (int64_t i = 0; i < n; ++i) {
        const float* xi = x.f32() + i * k;
        double acc = 0;
        for (int64_t c = 0; c < k; ++c) acc += double(xi[c]) * double(row[c]);
        y.f32()[i * m + j] = float(acc);
      }
    }
  }

  void matmul_xw(const Tensor& x, const Tensor& w, Tensor& y) override {
    check_f32_2d(x, "matmul_xw x");
    const int64_t n = x.rows(), k = x.cols(), m = w.cols();
    DSRT_CHECK(w.rows() == k && y.rows() == n && y.cols() == m);
    std::vector<double> acc(size_t(n * m), 0.0);
    std::vector<float> row(m);
    for (int64_t c = 0; c < k; ++c) {
      weight_row_to_f32(w, c, row.data());
      for (int64_t i = 0; i < n; ++i) {
        const double xv = x.f32()[i * k + c];
        for (int64_t j = 0; j < m; ++j) acc[i * m + j] += xv * row[j];
      }
    }
    for (int64_t i = 0; i < n * m; ++i) y.f32()[i] = float(acc[i]);
  }

  void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) override {
    const int64_t n = x.rows(), d = x.cols();
    DSRT_CHECK(w.numel() == d && w.dtype == DType::F32 && y.rows() == n && y.cols() == d);
    for (int64_t i = 0; i < n; ++i) {
      const float* xi = x.f32() + i * d;
      double ss = 0;
      for (int64_t c = 0; c < d; ++c) ss += double(xi[c]) * xi[c];
      const float r = float(1.0 / std::sqrt(ss / double(d) + eps));
      for (int64_t c = 0; c < d; ++c) y.f32()[i * d + c] = xi[c] * r * w.f32()[c];
    }
  }

  void rope(const RopeArgs& a) override {
    const int64_t half = a.rope_dim / 2;
    for (int64_t t = 0; t < a.n_tok; ++t) {
      for (int64_t i = 0; i < half; ++i) {
        // The angle is formed in float32 as in DeepSeek's and HF's reference code.
        const float ang = float(a.pos[t]) * a.inv_freq[i];
        const float c = std::cos(ang) * a.attn_factor, s = std::sin(ang) * a.attn_factor;
        for (int64_t h = 0; h < a.n_head; ++h) {
          float* p = a.x + t * a.stride_tok + h * a.stride_head;
          const int64_t i0 = a.interleaved ? 2 * i : i;
          const int64_t i1 = a.interleaved ? 2 * i + 1 : i + half;
          const float x0 = p[i0], x1 = p[i1];
          p[i0] = x0 * c - x1 * s;
          p[i1] = x0 * s + x1 * c;
        }
      }
    }
  }

  void softmax(Tensor& x) override {
    const int64_t n = x.rows(), d = x.cols();
    for (int64_t i = 0; i < n; ++i) softmax_row(x.f32() + i * d, d);
  }

  void silu_mul(const Tensor& g, const Tensor& u, Tensor& y) override {
    DSRT_CHECK(g.numel() == u.numel() && g.numel() == y.numel());
    for (int64_t i = 0; i < g.numel(); ++i) {
      const float gv = g.f32()[i];
      y.f32()[i] = gv / (1.0f + std::exp(-gv)) * u.f32()[i];
    }
  }

  void add(const Tensor& x, Tensor& y) override {
    DSRT_CHECK(x.numel() == y.numel());
    for (int64_t i = 0; i < x.numel(); ++i) y.f32()[i] += x.f32()[i];
  }

  void embedding(const Tensor& table, const int32_t* ids, int64_t n, Tensor& y) override {
    DSRT_CHECK(y.rows() == n && y.cols() == table.cols());
    for (int64_t i = 0; i < n; ++i) {
      DSRT_CHECK(ids[i] >= 0 && ids[i] < table.rows());
      weight_row_to_f32(table, ids[i], y.f32() + i * table.cols());
    }
  }

  void attention(const AttentionArgs& a) override {
    DSRT_CHECK(a.n_head % a.n_head_kv == 0);
    const int64_t group = a.n_head / a.n_head_kv;
    std::vector<double> sc(a.n_kv);
    for (int64_t t = 0; t < a.n_tok; ++t) {
      const int64_t n_vis = std::min<int64_t>(a.q_pos[t] + 1, a.n_kv);
      for (int64_t h = 0; h < a.n_head; ++h) {
        const float* q = a.q + t * a.q_stride_tok + h * a.q_stride_head;
        const int64_t hk = h / group;
        double mx = -INFINITY;
        for (int64_t j = 0; j < n_vis; ++j) {
          const float* k = a.k + a.kv_row(j) * a.k_stride_tok + hk * a.k_stride_head;
          double d = 0;
          for (int64_t c = 0; c < a.d_k; ++c) d += double(q[c]) * k[c];
          sc[j] = d * a.scale;
          mx = std::max(mx, sc[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < n_vis; ++j) sum += (sc[j] = std::exp(sc[j] - mx));
        float* o = a.out + t * a.o_stride_tok + h * a.o_stride_head;
        for (int64_t c = 0; c < a.d_v; ++c) {
          double acc = 0;
          for (int64_t j = 0; j < n_vis; ++j)
            acc += sc[j] * a.v[a.kv_row(j) * a.v_stride_tok + hk * a.v_stride_head + c];
          o[c] = float(acc / sum);
        }
      }
    }
  }

  void moe_route(const Tensor& logits, const MoeRouteArgs& a, Tensor& ids,
                 Tensor& weights) override {
    const int64_t n = logits.rows(), ne = logits.cols();
    DSRT_CHECK(ne % a.n_group == 0 && a.top_k <= ne && a.topk_group <= a.n_group);
    DSRT_CHECK(ids.dtype == DType::I32 && ids.rows() == n && ids.cols() == a.top_k);
    const int64_t per_group = ne / a.n_group;
    std::vector<float> scores(ne), choice(ne);
    for (int64_t i = 0; i < n; ++i) {
      const float* l = logits.f32() + i * ne;
      std::copy(l, l + ne, scores.begin());
      if (a.scoring == ScoringFunc::Softmax) {
        softmax_row(scores.data(), ne);
      } else {
        for (auto& s : scores) s = 1.0f / (1.0f + std::exp(-s));
      }
      for (int64_t e = 0; e < ne; ++e) choice[e] = scores[e] + (a.bias ? a.bias[e] : 0.0f);
      if (a.n_group > 1) {
        // Group-limited routing: keep the topk_group best groups, mask the rest.
        std::vector<float> gscore(a.n_group);
        for (int g = 0; g < a.n_group; ++g) {
          std::vector<float> v(choice.begin() + g * per_group,
                               choice.begin() + (g + 1) * per_group);
          std::sort(v.begin(), v.end(), std::greater<float>());
          gscore[g] = a.group_by_top2_sum ? v[0] + (v.size() > 1 ? v[1] : 0.0f) : v[0];
        }
        std::vector<int> gorder(a.n_group);
        std::iota(gorder.begin(), gorder.end(), 0);
        std::stable_sort(gorder.begin(), gorder.end(),
                         [&](int x, int y) { return gscore[x] > gscore[y]; });
        for (int r = a.topk_group; r < a.n_group; ++r)
          for (int64_t e = 0; e < per_group; ++e)
            choice[gorder[r] * per_group + e] = -INFINITY;
      }
      std::vector<int32_t> order(ne);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](int32_t x, int32_t y) { return choice[x] > choice[y]; });
      double sum = 0;
      for (int j = 0; j < a.top_k; ++j) sum += scores[order[j]];
      for (int j = 0; j < a.top_k; ++j) {
        float w = scores[order[j]];
        if (a.norm_topk_prob) w = float(w / sum);
        ids.ptr<int32_t>()[i * a.top_k + j] = order[j];
        weights.f32()[i * a.top_k + j] = w * a.routed_scaling_factor;
      }
    }
  }

  void moe_ffn(const Tensor& x, const Tensor& ids, const Tensor& weights,
               const std::vector<ExpertWeights>& experts, Tensor& y) override {
    const int64_t n = x.rows(), d = x.cols(), k = ids.cols();
    std::fill(y.f32(), y.f32() + n * d, 0.0f);
    for (int64_t i = 0; i < n; ++i) {
      Tensor xi = x.slice_rows(i, 1);
      for (int64_t j = 0; j < k; ++j) {
        const int32_t e = ids.ptr<int32_t>()[i * k + j];
        DSRT_CHECK(e >= 0 && size_t(e) < experts.size());
        const ExpertWeights& ew = experts[e];
        const int64_t f = ew.gate->rows();
        Tensor g = Tensor::zeros(DType::F32, {1, f}), u = Tensor::zeros(DType::F32, {1, f});
        Tensor o = Tensor::zeros(DType::F32, {1, d});
        matmul(xi, *ew.gate, g);
        matmul(xi, *ew.up, u);
        silu_mul(g, u, g);
        matmul(g, *ew.down, o);
        const float w = weights.f32()[i * k + j];
        for (int64_t c = 0; c < d; ++c) y.f32()[i * d + c] += w * o.f32()[c];
      }
    }
  }

 private:
  static void softmax_row(float* p, int64_t d) {
    float mx = -INFINITY;
    for (int64_t c = 0; c < d; ++c) mx = std::max(mx, p[c]);
    double sum = 0;
    for (int64_t c = 0; c < d; ++c) sum += (p[c] = std::exp(p[c] - mx));
    for (int64_t c = 0; c < d; ++c) p[c] = float(p[c] / sum);
  }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_ref_backend() { return std::make_unique<CpuRefBackend>(); }

}  // namespace dsrt
