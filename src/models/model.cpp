#include "models/model.h"

#include <filesystem>

#include "models/deepseek.h"
#include "models/dense.h"

namespace dsrt {

Result<std::unique_ptr<Model>> load_model(const std::string& path, std::shared_ptr<Backend> backend,
                                          const ModelOptions& opt) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::Error("model path " + path + " does not exist");
  if (!fs::is_directory(path, ec))
    return Status::Error(path + ": expected a checkpoint folder (config.json + *.safetensors)");
  DSRT_ASSIGN_OR_RETURN(ModelConfig c, load_model_config(path + "/config.json"));
  DSRT_ASSIGN_OR_RETURN(WeightStore ws, WeightStore::open_dir(path));
  Result<std::unique_ptr<Model>> m =
      c.is_deepseek() ? load_deepseek(std::move(c), std::move(ws), std::move(backend), opt)
                      : load_dense(std::move(c), std::move(ws), std::move(backend));
  if (!m.ok()) return m.status().with_context(path);
  return m;
}

}  // namespace dsrt
