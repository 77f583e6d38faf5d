// Block-wide reductions in a fixed tree (the same order every run): blockDim.x must be
// a power of two; `scratch` holds blockDim.x values of shared memory.
#pragma once

namespace cohort::cuda {

template <typename T, typename Op>
__device__ T block_reduce(T v, T* scratch, Op op) {
  scratch[threadIdx.x] = v;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) scratch[threadIdx.x] = op(scratch[threadIdx.x], scratch[threadIdx.x + s]);
    __syncthreads();
  }
  const T r = scratch[0];
  __syncthreads();
  return r;
}

struct Sum {
  template <typename T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct Max {
  __device__ float operator()(float a, float b) const { return a > b ? a : b; }
};

}  // namespace cohort::cuda
