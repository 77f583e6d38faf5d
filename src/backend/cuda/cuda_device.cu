// CudaBackend's construction (device, cuBLAS handle) and device discovery.
#include <unistd.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"

namespace cohort {

namespace cuda {
int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

std::string device_identity() {
  int device = 0;
  COHORT_CUDA_CHECK(cudaGetDevice(&device));
  char bus[32] = {};
  COHORT_CUDA_CHECK(cudaDeviceGetPCIBusId(bus, int(sizeof bus), device));
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '?';
  return fmt::format("{} on {}", bus, host);
}
}  // namespace cuda

CudaBackend::CudaBackend(MatmulPrecision precision, int device)
    : precision_(precision), copies_(precision == MatmulPrecision::bf16) {
  const int n = cuda::device_count();
  if (n == 0) throw Error("no CUDA device (or no driver) on this machine");
  if (device < 0 || device >= n)
    throw Error(fmt::format("CUDA device {} does not exist ({} present)", device, n));
  COHORT_CUDA_CHECK(cudaSetDevice(device));
  cublasHandle_t h = nullptr;
  COHORT_CUBLAS_CHECK(cublasCreate(&h));
  // fp32 stays fp32: no TF32 tensor-core rounding. The 16-bit precisions need the
  // default math mode, which lets cublasGemmEx use tensor cores (fp32 accumulation).
  COHORT_CUBLAS_CHECK(cublasSetMathMode(
      h, precision_ == MatmulPrecision::fp32 ? CUBLAS_PEDANTIC_MATH : CUBLAS_DEFAULT_MATH));
  COHORT_CUBLAS_CHECK(cublasSetAtomicsMode(h, CUBLAS_ATOMICS_NOT_ALLOWED));
  cublas_ = h;
  // cuBLAS's documented workspace for Hopper, 32 MiB (4 MiB before it), given outright
  // rather than left to the library's pool, as PyTorch does since its #120925: the
  // split-K algorithms of the weight gradients' GEMMs (K = B x T) need room to choose from.
  // Every GEMM runs on one stream, so one buffer serves them all.
  int major = 0;  // one attribute: cudaGetDeviceProperties fills them all, slowly
  COHORT_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  cublas_workspace_ = cuda::DeviceBuffer(size_t(major >= 9 ? 32 : 4) << 20);
  COHORT_CUBLAS_CHECK(
      cublasSetWorkspace(h, cublas_workspace_.as<void>(), cublas_workspace_.bytes()));
}

CudaBackend::~CudaBackend() {
  if (cublas_) cublasDestroy(static_cast<cublasHandle_t>(cublas_));
  if (block_sums_) cudaFree(block_sums_);
}

float* CudaBackend::column_partials(size_t n) {
  if (column_partials_.bytes() < n * sizeof(float))
    column_partials_ = cuda::DeviceBuffer(n * sizeof(float));
  return column_partials_.as<float>();
}

}  // namespace cohort
