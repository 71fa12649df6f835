// Adaptive per-tensor types under a size budget (`--target-bpw`, `--max-size`).
//
// Error model: for a weight W [out, in] that multiplies activations x, quantizing it to type
// T adds dy = x (W - Q_T(W))^T to its output. With the calibration sums s_j = sum over tokens
// of x_j^2 (and the usual diagonal approximation, cross terms dropped), the expected output
// noise is sum_r sum_j s_j (W - Q_T(W))_rj^2 and the output energy sum_r sum_j s_j W_rj^2.
// Their ratio, the importance-weighted relative error (NMSE) of the tensor's output, is the
// cost of T for that tensor; routed experts sum over the tokens routed to each expert, so a
// rarely chosen expert weighs little. The objective is the sum of the tensors' NMSEs: each
// matrix's relative output noise counts the same, whatever its size, so bits go where they
// buy the most error per byte (small sensitive matrices: attention, shared experts,
// embeddings/head; the bulk of the routed experts gets fewer). One exception: the output
// head's NMSE is the logits' own, while a per-layer matrix's output is one of the
// 2 * n_layer updates summed into the residual stream; the head's error is weighted by
// 2 * n_layer (without this the head of v3-tiny went to Q3_K and the KLD at 4.5 bpw was
// 0.0047, worse than pure Q4_0).
//
// Allocation: every tensor starts at its cheapest candidate; then, repeatedly, the upgrade
// (to any more expensive candidate of any tensor) with the largest error reduction per added
// byte that still fits is taken, until none fits. Candidates: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
// Q8_0, F16 (with the usual fallback where a row does not hold a 256-block). Norms, biases
// and the router stay F32 and count against the budget as fixed.
#pragma once

#include <cstdint>
#include <vector>

#include "quant_tool/calibrate.h"
#include "quant_tool/plan.h"

namespace dsrt {

struct AllocOptions {
  double target_bpw = 0;      // over all parameters of the file (as llama.cpp reports it)
  uint64_t max_bytes = 0;     // tensor data + metadata
  uint64_t fixed_bytes = 0;   // metadata and tensor-info bytes (counted against max_bytes)
  int max_sample_rows = 256;  // rows per tensor used to estimate errors
  int n_threads = 0;
  int n_layer = 1;
  bool tied_embeddings = false;  // token_embd is also the head
};

struct AllocResult {
  std::vector<DType> types;          // per planned tensor
  std::vector<double> nmse;          // the chosen type's estimated error
  uint64_t data_bytes = 0;           // sum of padded tensor bytes
  double bpw = 0;
};

// Bytes a tensor of this shape takes as type t, padded to GGUF's 32-byte alignment.
uint64_t tensor_bytes(const PlannedTensor& p, DType t);

Result<AllocResult> allocate_types(const std::vector<PlannedTensor>& plan, const ActStatsMap& stats,
                                   const AllocOptions& opt);

}  // namespace dsrt
