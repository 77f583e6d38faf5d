// Turns a failed CUDA or cuBLAS call into a cohort::Error naming the call.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <fmt/format.h>

#include "core/error.h"

#define COHORT_CUDA_CHECK(call)                                                      \
  do {                                                                               \
    const cudaError_t err_ = (call);                                                 \
    if (err_ != cudaSuccess)                                                         \
      throw ::cohort::Error(fmt::format("{}: {}", #call, cudaGetErrorString(err_))); \
  } while (0)

#define COHORT_CUBLAS_CHECK(call)                                                  \
  do {                                                                             \
    const cublasStatus_t st_ = (call);                                             \
    if (st_ != CUBLAS_STATUS_SUCCESS)                                              \
      throw ::cohort::Error(fmt::format("{}: cuBLAS status {}", #call, int(st_))); \
  } while (0)

// After a kernel launch: launch errors now, execution errors at the next sync.
#define COHORT_CUDA_LAUNCHED() COHORT_CUDA_CHECK(cudaGetLastError())

namespace cohort::cuda {
inline unsigned blocks_for(size_t n, unsigned threads) {
  return unsigned((n + threads - 1) / threads);
}

// Over 48 KB of dynamic shared memory needs the kernel's consent (once is enough).
template <typename Kernel>
void allow_dynamic_shared(Kernel kernel, size_t bytes) {
  COHORT_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}
}  // namespace cohort::cuda
