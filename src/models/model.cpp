#include "models/model.h"

#include <cstdio>
#include <cstring>
#include <filesystem>

#include "loaders/gguf.h"
#include "models/deepseek.h"
#include "models/dense.h"
#include "models/kv_cache.h"
#include "models/gguf_source.h"

namespace dsrt {

Result<std::unique_ptr<KvCache>> Model::new_cache(int32_t n_ctx) const {
  return make_contiguous_kv(config_.num_hidden_layers, n_ctx, cache_values_per_token_layer());
}

Result<std::unique_ptr<KvPool>> Model::new_kv_pool(int32_t n_blocks, int32_t block_size) const {
  return make_kv_pool(config_.num_hidden_layers, n_blocks, block_size, cache_values_per_token_layer());
}
namespace {

// A .gguf name, or any file that starts with GGUF's magic.
bool is_gguf_file(const std::string& path) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) return true;
  char magic[4] = {};
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  const size_t n = std::fread(magic, 1, 4, f);
  std::fclose(f);
  return n == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

Result<std::unique_ptr<Model>> load(ModelConfig c, std::shared_ptr<const TensorSource> src,
                                    std::shared_ptr<Backend> backend, const ModelOptions& opt) {
  return c.is_deepseek() ? load_deepseek(std::move(c), std::move(src), std::move(backend), opt)
                         : load_dense(std::move(c), std::move(src), std::move(backend));
}

// Where the weight files of a model of config c live (core/mmap_file.h). A dense model reads
// every weight per token, which huge pages speed up (Q8_0 decode 1.09x); a MoE token reads
// top_k of the routed experts, and the mapping keeps the experts a run never uses out of
// memory (the demo MoE: peak RSS 148 MiB mapped, 207 copied) with no measured decode gain
// from the copy (v2lite8 Q4_K_M tg64, 6 pairs: 0.97). --no-mmap still copies it.
Residency weight_residency(const ModelConfig& c) {
  return c.n_routed_experts > 0 && default_residency() == Residency::Auto ? Residency::Map : Residency::Auto;
}

}  // namespace

Result<std::unique_ptr<Model>> load_model(const std::string& path, std::shared_ptr<Backend> backend,
                                          const ModelOptions& opt) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::Error("model path " + path + " does not exist");
  Result<std::unique_ptr<Model>> m = Status::Error("");
  if (!fs::is_directory(path, ec)) {
    if (!is_gguf_file(path))
      return Status::Error(path +
                           ": expected a checkpoint folder (config.json + *.safetensors) or a "
                           ".gguf file");
    // The config decides where the weights live: open mapped (cheap), read it, and reopen
    // into huge pages if that is the choice.
    DSRT_ASSIGN_OR_RETURN(std::shared_ptr<GgufFile> f, GgufFile::open(path, Residency::Map));
    DSRT_ASSIGN_OR_RETURN(ModelConfig c, model_config_from_gguf(*f));
    if (resolve_residency(f->file().size(), weight_residency(c)) == Residency::Copy) {
      DSRT_ASSIGN_OR_RETURN(f, GgufFile::open(path, Residency::Copy));
    }
    m = load(std::move(c), std::make_shared<GgufSource>(std::move(f)), std::move(backend), opt);
  } else {
    DSRT_ASSIGN_OR_RETURN(ModelConfig c, load_model_config(path + "/config.json"));
    DSRT_ASSIGN_OR_RETURN(WeightStore ws, WeightStore::open_dir(path, weight_residency(c)));
    m = load(std::move(c), std::make_shared<SafetensorsSource>(std::move(ws)), std::move(backend),
             opt);
  }
  if (!m.ok()) return m.status().with_context(path);
  return m;
}

}  // namespace dsrt
