#pragma once

#include "loaders/safetensors.h"
#include "models/model.h"

namespace dsrt {

Result<std::unique_ptr<Model>> load_deepseek(ModelConfig c, WeightStore ws,
                                             std::shared_ptr<Backend> b, const ModelOptions& o);

}  // namespace dsrt
