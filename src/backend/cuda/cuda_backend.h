// CudaBackend: Backend on one NVIDIA GPU, fp32. Every pointer an op receives is device
// memory (cuda_memory.h allocates and copies). Matmuls go through cuBLAS; the other ops
// are this folder's kernels, one .cu per op family as on the CPU. Deterministic like
// the CPU backend: no float atomics; every reduction has a fixed order (a thread owns
// an output and walks its inputs in order, or a block reduces in a fixed tree).
//
// What is not here yet (issue 8): bf16 compute with fp32 master weights (cuBLASLt),
// fused flash-style attention (this attention stores the T x T probabilities, as the
// Backend interface asks), and the models' host-side steps (they still copy and sum
// activations on the host; see docs/gpu.md).
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/backend.h"
#include "backend/cuda/cuda_memory.h"

namespace cohort {

class CudaBackend final : public Backend {
 public:
  CudaBackend();  // device 0; throws cohort::Error without a device
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;
  const char* name() const override { return "cuda"; }
  MemorySpace& memory() override { return memory_; }

  COHORT_BACKEND_OPS_OVERRIDE

 private:
  cuda::DeviceMemory memory_;
  void* cublas_ = nullptr;        // cublasHandle_t
  double* block_sums_ = nullptr;  // sum_squares partials (device)
  size_t block_sums_size_ = 0;
};

namespace cuda {
int device_count();  // 0 without a device or a driver
}

}  // namespace cohort
