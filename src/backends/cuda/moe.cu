// DeepSeekMoE routing and the gather / combine kernels of the grouped expert FFN.
//
// Routing runs one block per token: scores in parallel, then one thread makes the selection
// exactly as cpu/ref does (group scores, stable ordering: ties go to the lower index), so the
// chosen expert ids agree bit for bit. The softmax sum is taken in double as in cpu/ref; the
// work is tiny (n_expert <= a few hundred) and this keeps the ids identical near ties.
#include <cmath>

#include "backends/cuda/kernels.h"

namespace dsrt::cuda {
namespace {

constexpr int kRouteThreads = 256;

__global__ void moe_route_kernel(const float* __restrict__ logits, int64_t ne, MoeRouteDev a,
                                 int32_t* __restrict__ ids, float* __restrict__ weights) {
  extern __shared__ float sh[];
  float* scores = sh;       // [ne]
  float* choice = sh + ne;  // [ne]
  __shared__ float s_max;
  __shared__ double s_sum;
  const int64_t i = blockIdx.x;
  const float* l = logits + i * ne;
  const int tid = threadIdx.x;
  if (a.scoring_sigmoid) {
    for (int64_t e = tid; e < ne; e += blockDim.x) scores[e] = 1.0f / (1.0f + expf(-l[e]));
  } else {
    if (tid == 0) {
      float mx = -INFINITY;
      for (int64_t e = 0; e < ne; ++e) mx = fmaxf(mx, l[e]);
      s_max = mx;
    }
    __syncthreads();
    for (int64_t e = tid; e < ne; e += blockDim.x) scores[e] = expf(l[e] - s_max);
    __syncthreads();
    if (tid == 0) {
      double sum = 0;
      for (int64_t e = 0; e < ne; ++e) sum += scores[e];
      s_sum = sum;
    }
    __syncthreads();
    for (int64_t e = tid; e < ne; e += blockDim.x) scores[e] = float(scores[e] / s_sum);
  }
  __syncthreads();
  for (int64_t e = tid; e < ne; e += blockDim.x)
    choice[e] = scores[e] + (a.bias ? a.bias[e] : 0.0f);
  __syncthreads();
  if (tid != 0) return;

  const int64_t per_group = ne / a.n_group;
  if (a.n_group > 1) {
    // Group score: best (or sum of the best two) biased score; keep the topk_group best
    // groups (stable: the lower group index wins a tie) and mask the others.
    constexpr int kMaxGroups = 64;
    float gscore[kMaxGroups];
    bool keep[kMaxGroups];
    for (int g = 0; g < a.n_group; ++g) {
      float b1 = -INFINITY, b2 = -INFINITY;
      for (int64_t e = 0; e < per_group; ++e) {
        const float v = choice[g * per_group + e];
        if (v > b1) {
          b2 = b1;
          b1 = v;
        } else if (v > b2) {
          b2 = v;
        }
      }
      gscore[g] = a.group_by_top2_sum ? b1 + (per_group > 1 ? b2 : 0.0f) : b1;
      keep[g] = false;
    }
    for (int r = 0; r < a.topk_group; ++r) {
      int best = -1;
      for (int g = 0; g < a.n_group; ++g)
        if (!keep[g] && (best < 0 || gscore[g] > gscore[best])) best = g;
      keep[best] = true;
    }
    for (int g = 0; g < a.n_group; ++g)
      if (!keep[g])
        for (int64_t e = 0; e < per_group; ++e) choice[g * per_group + e] = -INFINITY;
  }
  // Top-k by repeated arg-max over the not-yet-chosen experts, lower index first on ties:
  // the order a stable descending sort gives. Chosen entries are marked with NaN, which never
  // compares greater.
  double sum = 0;
  int32_t* out_ids = ids + i * a.top_k;
  for (int j = 0; j < a.top_k; ++j) {
    int64_t best = -1;
    for (int64_t e = 0; e < ne; ++e) {
      if (isnan(choice[e])) continue;
      if (best < 0 || choice[e] > choice[best]) best = e;
    }
    out_ids[j] = int32_t(best);
    choice[best] = NAN;
    sum += scores[best];
  }
  for (int j = 0; j < a.top_k; ++j) {
    float w = scores[out_ids[j]];
    if (a.norm_topk_prob) w = float(w / sum);
    weights[i * a.top_k + j] = w * a.routed_scaling_factor;
  }
}

__global__ void gather_rows_kernel(const float* src, const int32_t* rows, int64_t d, float* dst) {
  const int64_t i = blockIdx.x;
  const float* s = src + int64_t(rows[i]) * d;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) dst[i * d + c] = s[c];
}

__global__ void scatter_rows_kernel(const float* src, const int32_t* rows, int64_t d, float* dst) {
  const int64_t i = blockIdx.x;
  float* o = dst + int64_t(rows[i]) * d;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) o[c] = src[i * d + c];
}

__global__ void weighted_sum_kernel(const float* parts, const float* w, int64_t k, int64_t d,
                                    float* y) {
  const int64_t i = blockIdx.x;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) {
    float s = 0.0f;
    for (int64_t j = 0; j < k; ++j) s += w[i * k + j] * parts[(i * k + j) * d + c];
    y[i * d + c] = s;
  }
}

}  // namespace

void launch_moe_route(const float* logits, int64_t n, int64_t n_expert, const MoeRouteDev& a,
                      int32_t* ids, float* weights, gpuStream_t s) {
  if (n == 0) return;
  DSRT_CHECK_MSG(a.n_group <= 64, "moe_route: more than 64 expert groups");
  const size_t smem = size_t(2 * n_expert) * sizeof(float);
  DSRT_CHECK_MSG(smem <= 40 * 1024, "moe_route: too many experts for the CUDA kernel");
  moe_route_kernel<<<unsigned(n), kRouteThreads, smem, s>>>(logits, n_expert, a, ids, weights);
}

void launch_gather_rows(const float* src, const int32_t* rows, int64_t n, int64_t d, float* dst,
                        gpuStream_t s) {
  if (n == 0) return;
  gather_rows_kernel<<<unsigned(n), 256, 0, s>>>(src, rows, d, dst);
}

void launch_scatter_rows(const float* src, const int32_t* rows, int64_t n, int64_t d, float* dst,
                         gpuStream_t s) {
  if (n == 0) return;
  scatter_rows_kernel<<<unsigned(n), 256, 0, s>>>(src, rows, d, dst);
}

void launch_weighted_sum(const float* parts, const float* w, int64_t n, int64_t k, int64_t d,
                         float* y, gpuStream_t s) {
  if (n == 0) return;
  weighted_sum_kernel<<<unsigned(n), 256, 0, s>>>(parts, w, k, d, y);
}

}  // namespace dsrt::cuda
