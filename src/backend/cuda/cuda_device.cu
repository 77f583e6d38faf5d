// CUDA backend library: for now only device discovery, so that the build switch, nvcc
// and the link are exercised in CI. The kernels arrive with the GPU issue.
#include <cuda_runtime.h>

namespace cohort::cuda {

// Number of usable CUDA devices; 0 when there is no device or no driver.
int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

}  // namespace cohort::cuda
