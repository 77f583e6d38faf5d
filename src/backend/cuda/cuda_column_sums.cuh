// Column sums of a row-major (N x C) output gradient, a linear layer's bias gradient:
// one pass that also writes the gradient's 16-bit copy for the layer's two GEMMs, where
// they need one (cuda_matmul.cu). Before, the rounding copy and the column sums each read
// the whole fp32 gradient: for GPT-2 124M at B=16, T=1024, five (N x C) floats a layer
// (the MLP's and the attention's projections, and q, k, v), 250 MB a layer read twice.
// tests/backend/column_sums_emulated_test.cc runs it on the CPU.
//
// Block: 32 x 8 threads over 128 columns (four a lane) of one group of rows: a warp reads
// 512 contiguous bytes of a row (16-byte loads where the row allows), lane y of the block
// walks rows y, y + 8, ... of the group in order, the eight partials of a column meet in
// a fixed tree, and add_group_sums adds the groups in a fixed order: the same sums every run.
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "backend/cuda/cuda_half.cuh"
#include "backend/cuda/cuda_warp.cuh"

namespace cohort::cuda::column_sums {

constexpr int kLanes = 32, kRows = 8, kColumns = 4 * kLanes;

// Row groups enough for about four blocks per multiprocessor of an H100 (132), and rows
// [group * rows, ...) of each: a function of the shape only, so sums repeat.
struct Split {
  int groups, rows;
  Split(int N, int C) {
    const int column_blocks = (C + kColumns - 1) / kColumns;
    groups = std::max(1, std::min((528 + column_blocks - 1) / column_blocks, (N + 63) / 64));
    rows = (N + groups - 1) / groups;
  }
  dim3 grid(int C) const { return dim3(unsigned((C + kColumns - 1) / kColumns), groups); }
  static dim3 block() { return dim3(kLanes, kRows); }
};

// Four consecutive values of a row as floats: one 16-byte (fp32) or 8-byte (16-bit) load
// where `whole` (all four inside the row, the address aligned), else one by one up to C.
template <typename T>
__device__ float4 load_four(const T* p, bool whole, int left) {
  if (whole) {
    if constexpr (std::is_same_v<T, float>) {
      return load_float4(p);
    } else {
      const Four16<T> v = *reinterpret_cast<const Four16<T>*>(p);
      return make_float4(float(v.v[0]), float(v.v[1]), float(v.v[2]), float(v.v[3]));
    }
  }
  float x[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int k = 0; k < 4 && k < left; ++k) x[k] = float(p[k]);
  return make_float4(x[0], x[1], x[2], x[3]);
}

// partial[group][c] = sum over the group's rows of dout[n][c]; with R a 16-bit type, also
// rounded[n][c] = round16(dout[n][c]) (R = void: no copy). `vector`: C % 4 == 0 and dout
// (and rounded) aligned for the wide loads and stores.
template <typename T, typename R>
__global__ void __launch_bounds__(kLanes* kRows)
    sums(float* partial, const T* dout, R* rounded, int N, int C, int group_rows, bool vector) {
  __shared__ float part[kRows][kColumns + 1];
  const int c = blockIdx.x * kColumns + 4 * int(threadIdx.x);
  const int first = blockIdx.y * group_rows;
  const int end = first + group_rows < N ? first + group_rows : N;
  const bool whole = vector && c + 4 <= C;
  float4 s = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  // Unrolled so that several rows' loads are in flight at once (the sums keep their order).
  if (c < C)
#pragma unroll 4
    for (int n = first + int(threadIdx.y); n < end; n += kRows) {
      const size_t at = size_t(n) * C + c;
      const float4 v = load_four(dout + at, whole, C - c);
      if constexpr (!std::is_void_v<R>) {
        if (whole) {
          *reinterpret_cast<Four16<R>*>(rounded + at) =
              Four16<R>{{round16<R>(v.x), round16<R>(v.y), round16<R>(v.z), round16<R>(v.w)}};
        } else {
          const float x[4] = {v.x, v.y, v.z, v.w};
          for (int k = 0; k < 4 && c + k < C; ++k) rounded[at + k] = round16<R>(x[k]);
        }
      }
      s.x += v.x;
      s.y += v.y;
      s.z += v.z;
      s.w += v.w;
    }
  float* mine = &part[threadIdx.y][4 * threadIdx.x];
  mine[0] = s.x;
  mine[1] = s.y;
  mine[2] = s.z;
  mine[3] = s.w;
  __syncthreads();
  for (int h = kRows / 2; h > 0; h >>= 1) {
    if (int(threadIdx.y) < h)
      for (int k = 0; k < 4; ++k)
        part[threadIdx.y][4 * threadIdx.x + k] += part[threadIdx.y + h][4 * threadIdx.x + k];
    __syncthreads();
  }
  if (threadIdx.y == 0)
    for (int k = 0; k < 4 && c + k < C; ++k)
      partial[size_t(blockIdx.y) * C + c + k] = part[0][4 * threadIdx.x + k];
}

}  // namespace cohort::cuda::column_sums
