// `dsrt quantize`: a Hugging Face checkpoint folder (F32/BF16/F16/FP8 block-scaled) or a GGUF
// file in, a GGUF file for llama.cpp out (arch deepseek2 / llama / qwen2, llama.cpp's tensor
// names and metadata keys), with a fixed type scheme (pure or llama.cpp-style _M recipe) or
// per-tensor types chosen under a size budget from calibration activations. See
// docs/quantize.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "quant_tool/recipe.h"

namespace dsrt {

struct QuantizeOptions {
  std::string input, output;
  std::string type;          // --type; may be empty with a budget
  double target_bpw = 0;     // > 0: adaptive
  uint64_t max_bytes = 0;    // > 0: adaptive
  std::string calib_file;    // "" = the built-in text
  int calib_tokens = 512;
  std::string vocab;         // tokenizer source when the input has none (a .gguf or a folder)
  int n_threads = 0;
  bool progress = true;      // a progress line on stderr
};

struct QuantizedTensor {
  std::string name;
  TensorClass cls;
  int layer;
  DType type;
  int64_t n_params;
  uint64_t bytes;
  std::string note;  // fallback, or the adaptive error estimate
};

struct QuantizeReport {
  std::vector<QuantizedTensor> tensors;
  int64_t n_params = 0;
  uint64_t file_bytes = 0;
  double bpw = 0;             // 8 * tensor data bytes / parameters
  int n_fallbacks = 0;
  bool adaptive = false;
  bool has_tokenizer = false;
  int64_t calib_tokens = 0;
  std::string summary;        // the recipe by tensor class, for printing
};

// "300M", "1.5G", "2GiB", "123456" -> bytes (K/M/G/T are powers of 1024, as `ls -h` shows).
Result<uint64_t> parse_size(const std::string& s);

Result<QuantizeReport> quantize_model(const QuantizeOptions& opt);

}  // namespace dsrt
