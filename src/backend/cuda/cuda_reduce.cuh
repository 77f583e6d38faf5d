// Block-wide reductions in a fixed tree (the same order every run): blockDim.x must be
// a power of two; `scratch` holds blockDim.x values of shared memory.
#pragma once

#include <algorithm>

#include "backend/cuda/cuda_warp.cuh"  // the warp emulator's __syncthreads in its tests

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

// Column sums of a row-major (N x C) matrix: blocks of 32 x 32 threads, each for 32
// columns of one group of rows (ColumnSplit). Thread (x, y) walks rows y, y + 32, ... of
// its group and column in order; column_tile_reduce sums the 32 partials of a column in
// a fixed tree; add_group_sums adds the groups' sums to the output in group order.
// (One thread per column walking all N rows left the GPU nearly idle: C / 128 blocks.)
constexpr int kColumnTile = 32;

// Row groups enough for about two blocks per multiprocessor of an H100 (132), and
// rows [group * rows, ...) of each: a function of the shape only, so sums repeat.
struct ColumnSplit {
  int groups, rows;
  ColumnSplit(int N, int C) {
    const int column_blocks = (C + kColumnTile - 1) / kColumnTile;
    groups = std::max(1, std::min((264 + column_blocks - 1) / column_blocks,
                                  (N + kColumnTile - 1) / kColumnTile));
    rows = (N + groups - 1) / groups;
  }
  dim3 grid(int C) const { return dim3(unsigned((C + kColumnTile - 1) / kColumnTile), groups); }
  static dim3 block() { return dim3(kColumnTile, kColumnTile); }
};

// out[c] += the sum over g of partial[g * C + c], in a fixed order: the groups in
// kGroupChunks runs of consecutive groups, each run summed in order by one thread, then
// the runs' sums in order. A thread walking all of up to 264 groups (the LayerNorm
// backward's) alone took 10 to 11 us a launch, a trip to L2 per group or per batch of
// loads (ncu, H200), about 1 ms of a GPT-2 124M step. Up to kGroupChunks groups, every run
// holds one and the order is the plain one. Launch: group_sums_grid(C), group_sums_block().
constexpr int kGroupColumns = 32, kGroupChunks = 8;
inline dim3 group_sums_grid(int C) {
  return dim3(unsigned((C + kGroupColumns - 1) / kGroupColumns));
}
inline dim3 group_sums_block() { return dim3(kGroupColumns, kGroupChunks); }

template <typename T>
__global__ void add_group_sums(T* out, const T* partial, int groups, int C) {
  constexpr int kBatch = 8;  // loads in flight ahead of their in-order adds
  __shared__ T runs[kGroupChunks][kGroupColumns + 1];
  const int c = blockIdx.x * kGroupColumns + threadIdx.x;
  const int per_run = (groups + kGroupChunks - 1) / kGroupChunks;
  const int first = threadIdx.y * per_run, end = min(groups, first + per_run);
  T s = T(0);
  if (c < C && first < end) {
    s = partial[size_t(first) * C + c];
    int g = first + 1;
    for (; g + kBatch <= end; g += kBatch) {
      T v[kBatch];
#pragma unroll
      for (int j = 0; j < kBatch; ++j) v[j] = partial[size_t(g + j) * C + c];
#pragma unroll
      for (int j = 0; j < kBatch; ++j) s += v[j];
    }
    for (; g < end; ++g) s += partial[size_t(g) * C + c];
  }
  runs[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    T total = runs[0][threadIdx.x];
    for (int q = 1; q < kGroupChunks && q * per_run < groups; ++q) total += runs[q][threadIdx.x];
    out[c] += total;
  }
}

__device__ inline float column_tile_reduce(float v, float (*part)[kColumnTile + 1]) {
  part[threadIdx.y][threadIdx.x] = v;
  __syncthreads();
  for (int h = kColumnTile / 2; h > 0; h >>= 1) {
    if (int(threadIdx.y) < h) part[threadIdx.y][threadIdx.x] += part[threadIdx.y + h][threadIdx.x];
    __syncthreads();
  }
  const float r = part[0][threadIdx.x];
  __syncthreads();
  return r;
}

}  // namespace cohort::cuda
