// Which ggml type each tensor of a GGUF gets: the fixed schemes of `dsrt quantize --type`
// (pure types and llama.cpp-style mixed "_M" recipes), the tensors that always stay F32, and
// the fallback when a type's block does not divide a row. The rules follow what
// llama-quantize does (src/llama-quant.cpp) so files compare, restated in our own terms.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace dsrt {

// What a GGUF tensor is, by llama.cpp's name (blk.N.<what>.weight).
enum class TensorClass {
  TokenEmbd,
  Output,
  AttnQ,       // attn_q (dense, V2-Lite)
  AttnK,
  AttnV,
  AttnOutput,
  AttnQA,      // MLA q_a / q_b / kv_a_mqa / k_b / v_b
  AttnQB,
  AttnKvA,
  AttnKB,
  AttnVB,
  FfnGate,     // dense FFN
  FfnUp,
  FfnDown,
  ExpGate,     // routed experts, stacked [n_expert, out, in]
  ExpUp,
  ExpDown,
  ShexpGate,   // shared experts
  ShexpUp,
  ShexpDown,
  Router,      // ffn_gate_inp: stays F32 (llama.cpp never quantizes it)
  Vector,      // norms, biases, exp_probs_b, rope_freqs: F32
  kCount,
};
const char* tensor_class_name(TensorClass c);
// From the GGUF name; Vector for any 1-D tensor whatever its name.
TensorClass classify_tensor(const std::string& gguf_name, size_t n_dims);
// N of "blk.N.", -1 for global tensors.
int tensor_layer(const std::string& gguf_name);

// A `--type`.
struct Scheme {
  std::string name;   // "q4_k_m"
  DType base;         // the type most tensors get
  int32_t file_type;  // general.file_type (llama_ftype)
  bool mixed = false; // an _M recipe (per-tensor rules beyond output/embeddings)
};
Result<Scheme> parse_scheme(const std::string& name);
std::vector<std::string> scheme_names();
// general.file_type for a file whose tensors are mostly `t` (used by the adaptive mode).
int32_t file_type_for(DType t);

struct RecipeModel {
  int n_layer = 0;
  int n_gqa = 1;         // query heads per KV head
  bool tied_embeddings = false;
};

// The type the scheme asks for before any fallback. F32 for Vector and Router.
DType recipe_type(const Scheme& s, TensorClass c, int layer, const RecipeModel& m);

// The type actually written for a row length ne0: `want` when its block divides ne0, else
// llama-quantize's fallback (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0
// where llama.cpp picks IQ4_NL, which dsrt cannot encode), and F16 when even that does not
// divide (llama-quantize aborts there for Q4_0..Q8_0; we fall back instead). `why` gets a
// sentence when a fallback happened.
DType fallback_type(DType want, int64_t ne0, std::string* why);

// Bits per weight of a type (block bytes * 8 / block size).
double type_bpw(DType t);

}  // namespace dsrt
