// `dsrt perplexity --model M --file TEXT [--ctx 512] [--kl-base BASE]`: perplexity, and the
// KL divergence and top-1 agreement against a base model, so quantization loss is a number.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/mmap_file.h"
#include "runtime/perplexity.h"
#include "tokenizer/tokenizer.h"

namespace dsrt::cli {
namespace {

struct PplOpts {
  std::string model, file, base, output = "text";
  int ctx = 512, chunks = -1, threads = 0, batch = 512;
};

int run_ppl(const PplOpts& o) {
  auto text = read_text_file(o.file);
  if (!text.ok()) return fail("perplexity", text.status().message());
  auto tok = Tokenizer::load(o.model);
  if (!tok.ok()) return fail("perplexity", "loading the tokenizer of " + o.model + ": " + tok.status().message());
  auto ids = tok.value().encode(text.value(), false, false);
  if (!ids.ok()) return fail("perplexity", o.file + ": " + ids.status().message());
  auto open = [&](const std::string& path) -> Result<std::unique_ptr<Model>> {
    DSRT_ASSIGN_OR_RETURN(auto be, make_backend("cpu", o.threads));
    return load_model(path, std::shared_ptr<Backend>(std::move(be)));
  };
  auto m = open(o.model);
  if (!m.ok()) return fail("perplexity", m.status().message());
  std::unique_ptr<Model> base;
  if (!o.base.empty()) {
    auto b = open(o.base);
    if (!b.ok()) return fail("perplexity", "--kl-base: " + b.status().message());
    base = std::move(b).value();
  }
  PerplexityOptions po;
  po.n_ctx = o.ctx;
  po.n_chunks = o.chunks;
  po.n_batch = o.batch;
  po.bos_id = tok.value().add_bos_default() ? tok.value().bos_id() : -1;
  std::fprintf(stderr, "dsrt perplexity: %zu tokens, %d-token chunks\n", ids.value().size(), o.ctx);
  auto r = compute_perplexity(*m.value(), ids.value(), po, base.get(), [](int c, int n, double ppl) {
    std::fprintf(stderr, "\r[%d/%d] ppl %.4f", c, n, ppl);
    std::fflush(stderr);
  });
  std::fprintf(stderr, "\n");
  if (!r.ok()) return fail("perplexity", r.status().message());
  const PerplexityResult& p = r.value();
  if (o.output == "json") {
    nlohmann::json j = {{"model", o.model}, {"file", o.file}, {"n_ctx", o.ctx}, {"n_chunks", p.n_chunks},
                        {"n_scored", p.n_scored}, {"ppl", p.ppl}, {"ppl_err", p.ppl_err}, {"nll", p.nll},
                        {"seconds", p.seconds}};
    if (p.has_base)
      j.update({{"base", o.base}, {"base_ppl", p.base_ppl}, {"kld_mean", p.kld_mean}, {"kld_err", p.kld_err},
                {"kld_max", p.kld_max}, {"top1_agree", p.top1_agree}});
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("perplexity %.4f +/- %.4f over %lld tokens (%d chunks of %d)\n", p.ppl, p.ppl_err,
              (long long)p.n_scored, p.n_chunks, o.ctx);
  if (p.has_base)
    std::printf("base perplexity %.4f; mean KLD %.6f +/- %.6f (max %.4f); top-1 agreement %.2f%%\n",
                p.base_ppl, p.kld_mean, p.kld_err, p.kld_max, 100 * p.top1_agree);
  return 0;
}

DSRT_COMMAND(ppl_cmd, "perplexity", "Perplexity of a text, and KL divergence against a base model",
             [](CLI::App& app) -> std::function<int()> {
               auto o = std::make_shared<PplOpts>();
               app.add_option("-m,--model", o->model, "Model")->required();
               app.add_option("-f,--file", o->file, "Text file")->required();
               app.add_option("-c,--ctx", o->ctx, "Tokens per chunk")->check(CLI::Range(4, 1 << 20));
               app.add_option("--chunks", o->chunks, "Evaluate at most this many chunks");
               app.add_option("-b,--batch", o->batch, "Tokens per forward call")->check(CLI::Range(1, 1 << 20));
               app.add_option("--kl-base", o->base, "Base model for KL divergence and top-1 agreement");
               app.add_option("-t,--threads", o->threads, "Threads (0 = all cores)")->check(CLI::Range(0, 1024));
               app.add_option("-o,--output", o->output, "text | json")->check(CLI::IsMember({"text", "json"}));
               return [=] { return run_ppl(*o); };
             });

}  // namespace
}  // namespace dsrt::cli
