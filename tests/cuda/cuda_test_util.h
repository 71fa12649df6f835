// Shared by the GPU tests: skip with one clear line where no CUDA device is usable.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "backends/cuda/cuda_backend.h"

#define DSRT_SKIP_WITHOUT_CUDA()                       \
  do {                                                 \
    std::string dsrt_why_;                             \
    if (::dsrt::cuda_device_count(&dsrt_why_) == 0)    \
      GTEST_SKIP() << "no CUDA device: " << dsrt_why_; \
  } while (0)
