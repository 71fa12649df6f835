#include "quant_tool/allocate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/quant.h"
#include "core/thread_pool.h"

namespace dsrt {
namespace {

bool fixed_f32(const PlannedTensor& p) { return p.cls == TensorClass::Vector || p.cls == TensorClass::Router; }

std::vector<DType> candidates(const PlannedTensor& p) {
  std::vector<DType> out;
  for (DType t : {DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_0, DType::F16}) {
    const DType f = fallback_type(t, p.cols(), nullptr);
    if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
  }
  std::sort(out.begin(), out.end(), [](DType a, DType b) { return type_bpw(a) < type_bpw(b); });
  return out;
}

// Importance-weighted relative error of each candidate on a sample of rows.
std::vector<double> tensor_errors(const PlannedTensor& p, const std::vector<DType>& cands, const ActStatsMap& stats,
                                  int max_rows, ThreadPool& pool) {
  const int64_t R = p.rows(), C = p.cols();
  const int64_t n_s = std::min<int64_t>(R, max_rows);
  std::vector<int64_t> rows(static_cast<size_t>(n_s));
  for (int64_t i = 0; i < n_s; ++i) rows[size_t(i)] = i * R / n_s;
  // num[thread][cand], den[thread]
  std::vector<std::vector<double>> num(size_t(pool.size()), std::vector<double>(cands.size(), 0.0));
  std::vector<double> den(size_t(pool.size()), 0.0);
  pool.parallel_for(n_s, [&](int64_t b, int64_t e, int th) {
    std::vector<float> w(static_cast<size_t>(C)), d(static_cast<size_t>(C));
    std::vector<uint8_t> q;
    std::vector<double> imp(static_cast<size_t>(C));
    for (int64_t i = b; i < e; ++i) {
      const int64_t r = rows[size_t(i)];
      p.row(r, w.data());
      auto it = stats.find(p.group_of_row(r));
      bool have = it != stats.end() && int64_t(it->second.sum_sq.size()) == C;
      if (have) {
        for (int64_t j = 0; j < C; ++j) imp[size_t(j)] = it->second.sum_sq[size_t(j)];
      } else if (p.row_groups.size() > 1) {
        // An expert no calibration token reached: it costs nothing on this text, but keep a
        // tiny weight so its error still orders the candidates.
        std::fill(imp.begin(), imp.end(), 1e-6);
      } else {
        std::fill(imp.begin(), imp.end(), 1.0);
      }
      double dn = 0;
      for (int64_t j = 0; j < C; ++j) dn += imp[size_t(j)] * double(w[size_t(j)]) * w[size_t(j)];
      den[size_t(th)] += dn;
      for (size_t k = 0; k < cands.size(); ++k) {
        q.resize(dtype_row_bytes(cands[k], C).value());
        quantize_row(cands[k], w.data(), q.data(), C);
        dequantize_row(cands[k], q.data(), d.data(), C);
        double s = 0;
        for (int64_t j = 0; j < C; ++j) {
          const double e2 = double(w[size_t(j)]) - d[size_t(j)];
          s += imp[size_t(j)] * e2 * e2;
        }
        num[size_t(th)][k] += s;
      }
    }
  });
  double dsum = 0;
  for (double x : den) dsum += x;
  std::vector<double> out(cands.size(), 0.0);
  for (size_t k = 0; k < cands.size(); ++k) {
    double s = 0;
    for (auto& v : num) s += v[k];
    out[k] = dsum > 0 ? s / dsum : 0.0;
  }
  return out;
}

}  // namespace

uint64_t tensor_bytes(const PlannedTensor& p, DType t) {
  const uint64_t b = uint64_t(p.rows()) * dtype_row_bytes(t, p.cols()).value();
  return (b + 31) / 32 * 32;
}

Result<AllocResult> allocate_types(const std::vector<PlannedTensor>& plan, const ActStatsMap& stats,
                                   const AllocOptions& opt) {
  ThreadPool pool(opt.n_threads);
  const size_t n = plan.size();
  std::vector<std::vector<DType>> cands(n);
  std::vector<std::vector<double>> errs(n);
  int64_t total_params = 0;
  uint64_t fixed = 0;
  for (size_t i = 0; i < n; ++i) {
    total_params += plan[i].numel();
    if (fixed_f32(plan[i])) {
      fixed += tensor_bytes(plan[i], DType::F32);
      continue;
    }
    cands[i] = candidates(plan[i]);
    errs[i] = tensor_errors(plan[i], cands[i], stats, opt.max_sample_rows, pool);
    // The head's output error is the logits' error; a per-layer matrix's is one of the
    // 2 * n_layer updates summed into the residual stream, so it reaches the logits diluted.
    const bool head = plan[i].cls == TensorClass::Output || (opt.tied_embeddings && plan[i].cls == TensorClass::TokenEmbd);
    if (head)
      for (double& e : errs[i]) e *= 2.0 * std::max(opt.n_layer, 1);
  }
  // Budget in bytes of tensor data.
  uint64_t budget = 0;
  if (opt.max_bytes > 0) {
    if (opt.max_bytes <= opt.fixed_bytes)
      return Status::Error("--max-size " + std::to_string(opt.max_bytes) + " bytes is smaller than the metadata alone (" +
                           std::to_string(opt.fixed_bytes) + " bytes)");
    budget = opt.max_bytes - opt.fixed_bytes;
  } else {
    budget = uint64_t(std::floor(opt.target_bpw * double(total_params) / 8.0));
  }
  std::vector<size_t> choice(n, 0);
  uint64_t used = fixed;
  for (size_t i = 0; i < n; ++i)
    if (!cands[i].empty()) used += tensor_bytes(plan[i], cands[i][0]);
  if (used > budget) {
    char msg[256];
    std::snprintf(msg, sizeof msg,
                  "the budget cannot be met: the smallest assignment (every matrix at its cheapest type, "
                  "Q2_K or its fallback; norms and router F32) needs %llu bytes of tensor data (%.3f bpw), "
                  "the budget allows %llu (%.3f bpw)",
                  (unsigned long long)used, 8.0 * double(used) / double(total_params), (unsigned long long)budget,
                  8.0 * double(budget) / double(total_params));
    return Status::Error(msg);
  }
  // Greedy marginal gain: best error drop per added byte, over every upgrade of every tensor.
  for (;;) {
    double best = 0;
    size_t bi = n, bk = 0;
    for (size_t i = 0; i < n; ++i) {
      if (cands[i].empty()) continue;
      const uint64_t cur = tensor_bytes(plan[i], cands[i][choice[i]]);
      for (size_t k = choice[i] + 1; k < cands[i].size(); ++k) {
        const uint64_t nb = tensor_bytes(plan[i], cands[i][k]);
        if (nb <= cur || used - cur + nb > budget) continue;
        const double gain = (errs[i][choice[i]] - errs[i][k]) / double(nb - cur);
        if (gain > best) {
          best = gain;
          bi = i;
          bk = k;
        }
      }
    }
    if (bi == n) break;
    used = used - tensor_bytes(plan[bi], cands[bi][choice[bi]]) + tensor_bytes(plan[bi], cands[bi][bk]);
    choice[bi] = bk;
  }
  AllocResult r;
  r.types.resize(n);
  r.nmse.resize(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    if (cands[i].empty()) {
      r.types[i] = DType::F32;
    } else {
      r.types[i] = cands[i][choice[i]];
      r.nmse[i] = errs[i][choice[i]];
    }
  }
  r.data_bytes = used;
  r.bpw = 8.0 * double(used) / double(total_params);
  return r;
}

}  // namespace dsrt
