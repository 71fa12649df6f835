// The CUDA backend: every op of the Backend contract on one NVIDIA GPU (and, through
// gpu_runtime.h, on CUDA-dialect toolkits). Weights are uploaded once, in their storage
// format, and decoded inside the kernels; activations are host tensors today and travel
// host -> device -> host within each op (docs/cuda.md: device-resident activations next).
#pragma once

#include <memory>
#include <string>

#include "backends/backend.h"

namespace dsrt {

// Number of CUDA devices this process can use. 0 when there is no driver or no device; then
// *why (if given) holds the runtime's reason ("no CUDA-capable device is detected", ...).
int cuda_device_count(std::string* why = nullptr);

// The bare CUDA backend on device `device`. supports() is true exactly for the ops and
// weight types it runs on the GPU; wrap it with make_fallback_backend for the rest
// (make_backend("cuda") does). Fails with a clear message when no device or driver is found.
Result<std::unique_ptr<Backend>> make_cuda_backend(int device);

}  // namespace dsrt
