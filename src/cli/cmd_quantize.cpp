// `dsrt quantize IN OUT.gguf --type T | --target-bpw B | --max-size SIZE`: writes a GGUF for
// llama.cpp from a Hugging Face checkpoint folder or another GGUF file (docs/quantize.md).
#include <cstdio>
#include <string>

#include "cli/command.h"
#include "quant_tool/quantize.h"

namespace dsrt::cli {
namespace {

struct QuantOpts {
  std::string input, output, type, max_size, calib, vocab;
  double target_bpw = 0;
  int threads = 0, calib_tokens = 512;
  bool quiet = false;
};

int run_quantize(const QuantOpts& a) {
  QuantizeOptions o;
  o.input = a.input;
  o.output = a.output;
  o.type = a.type;
  o.target_bpw = a.target_bpw;
  if (!a.max_size.empty()) {
    Result<uint64_t> b = parse_size(a.max_size);
    if (!b.ok()) return fail("quantize", "--max-size: " + b.status().message());
    o.max_bytes = b.value();
  }
  o.calib_file = a.calib;
  o.calib_tokens = a.calib_tokens;
  o.vocab = a.vocab;
  o.n_threads = a.threads;
  o.progress = !a.quiet;
  Result<QuantizeReport> r = quantize_model(o);
  if (!r.ok()) return fail("quantize", r.status().message());
  const QuantizeReport& q = r.value();
  for (const QuantizedTensor& t : q.tensors)
    if (!t.note.empty() && !q.adaptive)
      std::fprintf(stderr, "dsrt quantize: %s: %s\n", t.name.c_str(), t.note.c_str());
  if (!q.has_tokenizer)
    std::fprintf(stderr,
                 "dsrt quantize: warning: no tokenizer was written (the input has none; pass --vocab FILE.gguf|DIR); "
                 "llama.cpp refuses files without tokenizer.ggml.*\n");
  std::printf("wrote %s: %zu tensors, %lld parameters, %.2f MiB, %.3f bits per weight%s\n", a.output.c_str(),
              q.tensors.size(), (long long)q.n_params, double(q.file_bytes) / (1 << 20), q.bpw,
              q.adaptive ? " (adaptive)" : "");
  if (q.n_fallbacks > 0) std::printf("%d tensors used a fallback type (their rows do not hold the block)\n", q.n_fallbacks);
  std::printf("%s", q.summary.c_str());
  return 0;
}

DSRT_COMMAND(quantize_cmd, "quantize", "Write a GGUF for llama.cpp from an HF checkpoint or a GGUF (fixed or adaptive types)",
             [](CLI::App& app) -> std::function<int()> {
               auto o = std::make_shared<QuantOpts>();
               app.add_option("input", o->input, "Checkpoint folder (config.json + *.safetensors) or .gguf file")
                   ->required();
               app.add_option("output", o->output, "Output .gguf file")->required();
               app.add_option("-t,--type", o->type,
                              "q8_0 | q4_0 | q4_1 | q5_0 | q5_1 | q2_k | q3_k_m | q4_k_m | q5_k_m | q6_k | f16 | bf16 | f32");
               app.add_option("--target-bpw", o->target_bpw, "Adaptive: average bits per weight of the file");
               app.add_option("--max-size", o->max_size, "Adaptive: largest file size (e.g. 300M, 1.5G)");
               app.add_option("--calib", o->calib, "Calibration text for --target-bpw/--max-size (default: built in)");
               app.add_option("--calib-tokens", o->calib_tokens, "Calibration tokens at most")
                   ->check(CLI::Range(16, 1 << 20));
               app.add_option("--vocab", o->vocab, "Tokenizer for an input without one (.gguf or tokenizer folder)");
               app.add_option("--threads", o->threads, "Threads (0 = all cores)")->check(CLI::Range(0, 1024));
               app.add_flag("-q,--quiet", o->quiet, "No progress line");
               return [=] { return run_quantize(*o); };
             });

}  // namespace
}  // namespace dsrt::cli
