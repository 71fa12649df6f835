// The thin layer between the CUDA-dialect sources and the vendor runtime. Every runtime call
// in backends/cuda goes through the gpu* names below, so a CUDA-like toolkit (HIP through
// hipify, MUSA, CoreX) needs only another branch of this header, never edits to the kernels.
// The few BLAS calls (cublasGemmEx and handle set-up) sit in cuda_backend.cpp (matmul_dev and
// create) and bench/cuda; hipify maps them to hipBLAS one for one. Kernels use plain CUDA C++
// (no inline PTX); warp-level code uses kGpuWarp so a 64-wide wavefront target can change it
// in one place.
#pragma once

#if defined(DSRT_GPU_HIP)
#include <hip/hip_runtime.h>
#include <hipblas/hipblas.h>
#define DSRT_GPU_SYM(x) hip##x
using gpuStream_t = hipStream_t;
using gpuEvent_t = hipEvent_t;
using gpuError_t = hipError_t;
using gpublasHandle_t = hipblasHandle_t;
#else
#include <cublas_v2.h>
#include <cuda_runtime.h>
#define DSRT_GPU_SYM(x) cuda##x
using gpuStream_t = cudaStream_t;
using gpuEvent_t = cudaEvent_t;
using gpuError_t = cudaError_t;
using gpublasHandle_t = cublasHandle_t;
#endif

#define gpuSuccess DSRT_GPU_SYM(Success)
#define gpuGetDeviceCount DSRT_GPU_SYM(GetDeviceCount)
#define gpuSetDevice DSRT_GPU_SYM(SetDevice)
#define gpuGetDeviceProperties DSRT_GPU_SYM(GetDeviceProperties)
#define gpuDeviceProp DSRT_GPU_SYM(DeviceProp)
#define gpuMalloc DSRT_GPU_SYM(Malloc)
#define gpuFree DSRT_GPU_SYM(Free)
#define gpuMallocHost DSRT_GPU_SYM(MallocHost)
#define gpuFreeHost DSRT_GPU_SYM(FreeHost)
#define gpuMemcpy DSRT_GPU_SYM(Memcpy)
#define gpuMemcpyAsync DSRT_GPU_SYM(MemcpyAsync)
#define gpuMemsetAsync DSRT_GPU_SYM(MemsetAsync)
#define gpuMemcpyHostToDevice DSRT_GPU_SYM(MemcpyHostToDevice)
#define gpuMemcpyDeviceToHost DSRT_GPU_SYM(MemcpyDeviceToHost)
#define gpuMemcpyDeviceToDevice DSRT_GPU_SYM(MemcpyDeviceToDevice)
#define gpuStreamCreateWithFlags DSRT_GPU_SYM(StreamCreateWithFlags)
#define gpuStreamNonBlocking DSRT_GPU_SYM(StreamNonBlocking)
#define gpuStreamDestroy DSRT_GPU_SYM(StreamDestroy)
#define gpuStreamSynchronize DSRT_GPU_SYM(StreamSynchronize)
#define gpuDeviceSynchronize DSRT_GPU_SYM(DeviceSynchronize)
#define gpuEventCreate DSRT_GPU_SYM(EventCreate)
#define gpuEventDestroy DSRT_GPU_SYM(EventDestroy)
#define gpuEventRecord DSRT_GPU_SYM(EventRecord)
#define gpuEventSynchronize DSRT_GPU_SYM(EventSynchronize)
#define gpuEventElapsedTime DSRT_GPU_SYM(EventElapsedTime)
#define gpuGetErrorString DSRT_GPU_SYM(GetErrorString)
#define gpuGetLastError DSRT_GPU_SYM(GetLastError)
#define gpuMemGetInfo DSRT_GPU_SYM(MemGetInfo)

#include <string>

#include "core/status.h"

namespace dsrt::gpu {

#if defined(DSRT_GPU_HIP)
constexpr int kGpuWarp = 64;
#else
constexpr int kGpuWarp = 32;
#endif

// Internal invariant: a runtime call that fails after the device was opened is a bug or a
// lost device, not bad user input; it aborts with the call and the runtime's message.
#define DSRT_GPU_CHECK(call)                                                      \
  do {                                                                            \
    const gpuError_t dsrt_gpu_err_ = (call);                                      \
    DSRT_CHECK_MSG(dsrt_gpu_err_ == gpuSuccess,                                   \
                   std::string(#call) + ": " + gpuGetErrorString(dsrt_gpu_err_)); \
  } while (0)

#define DSRT_BLAS_CHECK(call)                                                             \
  do {                                                                                    \
    const auto dsrt_blas_st_ = (call);                                                    \
    DSRT_CHECK_MSG(int(dsrt_blas_st_) == 0, std::string(#call) + " failed with status " + \
                                                std::to_string(int(dsrt_blas_st_)));      \
  } while (0)

}  // namespace dsrt::gpu
