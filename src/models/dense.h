#pragma once

#include "models/model.h"
#include "models/weights.h"

namespace dsrt {

Result<std::unique_ptr<Model>> load_dense(ModelConfig c, std::shared_ptr<const TensorSource> src,
                                          std::shared_ptr<Backend> b);

}  // namespace dsrt
