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

// Column sums of a row-major (N x C) matrix take 32 columns per block of 32 x 32
// threads: thread (x, y) walks rows y, y + 32, ... of its column in order, then this sums
// the 32 partials of each column in a fixed tree; the result is in threadIdx.y == 0.
// (One thread per column walking all N rows left the GPU nearly idle: C / 128 blocks.)
constexpr int kColumnTile = 32;

__device__ inline float column_tile_reduce(float v, float (*part)[kColumnTile + 1]) {
  part[threadIdx.y][threadIdx.x] = v;
  __syncthreads();
  for (int h = kColumnTile / 2; h > 0; h >>= 1) {
    if (threadIdx.y < h) part[threadIdx.y][threadIdx.x] += part[threadIdx.y + h][threadIdx.x];
    __syncthreads();
  }
  const float r = part[0][threadIdx.x];
  __syncthreads();
  return r;
}

}  // namespace cohort::cuda
