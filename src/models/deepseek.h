#pragma once

#include "models/model.h"
#include "models/weights.h"

namespace dsrt {

Result<std::unique_ptr<Model>> load_deepseek(ModelConfig c, std::shared_ptr<const TensorSource> src,
                                             std::shared_ptr<Backend> b, const ModelOptions& o);

}  // namespace dsrt
