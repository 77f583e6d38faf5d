// Column sums of a row-major (N x C) output gradient, a linear layer's bias gradient:
// one pass that also writes the gradient's 16-bit copy for the layer's two GEMMs, where
// they need one (cuda_matmul.cu). Before, the rounding copy and the column sums each read
// the whole fp32 gradient: for GPT-2 124M at B=16, T=1024, five (N x C) floats a layer
// (the MLP's and the attention's projections, and q, k, v), 250 MB a layer read twice.
// tests/backend/column_sums_emulated_test.cc runs it on the CPU.
//
// Block: 32 x 8 threads over kPer columns a lane of one group of rows: a warp reads 32 *
// kPer contiguous values of a row (one 16-byte load a lane where the row allows: four
// floats, or eight 16-bit values, as llm.c's bias-gradient kernel reads bf16), lane y of
// the block walks rows y, y + 8, ... of the group in order, the eight partials of a column
// meet in a fixed tree, and add_group_sums adds the groups in a fixed order: the same sums
// every run. 16-bit input went from 8-byte to 16-byte loads after the H200's Nsight
// Compute had its column sums at 2.0 TB/s, against 3.1 to 4.4 for the other memory-bound
// kernels: twice the bytes in flight a thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "backend/cuda/cuda_half.cuh"
#include "backend/cuda/cuda_warp.cuh"

namespace cohort::cuda::column_sums {

constexpr int kLanes = 32, kRows = 8;

// Values a lane sums: eight for 16-bit input without a copy to write (16-byte loads),
// else four.
template <typename T, typename R>
constexpr int kPerLane = (sizeof(T) == 2 && std::is_void_v<R>) ? 8 : 4;

// Row groups enough for about four blocks per multiprocessor of an H100 (132), and rows
// [group * rows, ...) of each: a function of the shape only, so sums repeat.
struct Split {
  int columns, groups, rows;  // columns: a block's, kLanes * kPerLane
  Split(int N, int C, int per_lane) : columns(kLanes * per_lane) {
    const int column_blocks = (C + columns - 1) / columns;
    groups = std::max(1, std::min((528 + column_blocks - 1) / column_blocks, (N + 63) / 64));
    rows = (N + groups - 1) / groups;
  }
  dim3 grid(int C) const { return dim3(unsigned((C + columns - 1) / columns), groups); }
  static dim3 block() { return dim3(kLanes, kRows); }
};

// kPer consecutive values of a row as floats: one 16-byte load (four floats, eight 16-bit
// values) or one 8-byte load (four 16-bit values) where `whole` (all inside the row, the
// address aligned), else one by one up to `left`.
template <typename T, int kPer>
__device__ void load_values(const T* p, bool whole, int left, float (&x)[kPer]) {
  if (whole) {
    if constexpr (std::is_same_v<T, float>) {
      static_assert(kPer == 4);
      const float4 v = load_float4(p);
      x[0] = v.x, x[1] = v.y, x[2] = v.z, x[3] = v.w;
    } else {
      const Pack<T, kPer> v = *reinterpret_cast<const Pack<T, kPer>*>(p);
#pragma unroll
      for (int k = 0; k < kPer; ++k) x[k] = float(v.v[k]);
    }
    return;
  }
#pragma unroll
  for (int k = 0; k < kPer; ++k) x[k] = k < left ? float(p[k]) : 0.0f;
}

// partial[group][c] = sum over the group's rows of dout[n][c]; with R a 16-bit type, also
// rounded[n][c] = round16(dout[n][c]) (R = void: no copy). `vector`: C % kPerLane == 0
// and dout (and rounded) aligned for the wide loads and stores.
template <typename T, typename R>
__global__ void __launch_bounds__(kLanes* kRows)
    sums(float* partial, const T* dout, R* rounded, int N, int C, int group_rows, bool vector) {
  constexpr int kPer = kPerLane<T, R>, kColumns = kLanes * kPer;
  __shared__ float part[kRows][kColumns + 1];
  const int c = blockIdx.x * kColumns + kPer * int(threadIdx.x);
  const int first = blockIdx.y * group_rows;
  const int end = first + group_rows < N ? first + group_rows : N;
  const bool whole = vector && c + kPer <= C;
  float s[kPer];
#pragma unroll
  for (int k = 0; k < kPer; ++k) s[k] = 0.0f;
  // Four rows' loads before their copies' stores, so that all four are in flight at once:
  // a store between them, which may alias the next load as far as the compiler knows,
  // would hold that load until it is done. The sums keep their row order.
  constexpr int kBatch = 4;
  if (c < C)
    for (int n0 = first + int(threadIdx.y); n0 < end; n0 += kBatch * kRows) {
      float v[kBatch][kPer] = {};  // rows past the group stay unread
#pragma unroll
      for (int r = 0; r < kBatch; ++r) {
        const int n = n0 + r * kRows;
        if (n < end) load_values(dout + size_t(n) * C + c, whole, C - c, v[r]);
      }
#pragma unroll
      for (int r = 0; r < kBatch; ++r) {
        const int n = n0 + r * kRows;
        if (n >= end) break;
        if constexpr (!std::is_void_v<R>) {
          R* to = rounded + size_t(n) * C + c;
          if (whole) {
            *reinterpret_cast<Four16<R>*>(to) =
                Four16<R>{{round16<R>(v[r][0]), round16<R>(v[r][1]), round16<R>(v[r][2]),
                           round16<R>(v[r][3])}};
          } else {
            for (int k = 0; k < 4 && c + k < C; ++k) to[k] = round16<R>(v[r][k]);
          }
        }
#pragma unroll
        for (int k = 0; k < kPer; ++k) s[k] += v[r][k];
      }
    }
  float* mine = &part[threadIdx.y][kPer * threadIdx.x];
#pragma unroll
  for (int k = 0; k < kPer; ++k) mine[k] = s[k];
  __syncthreads();
  for (int h = kRows / 2; h > 0; h >>= 1) {
    if (int(threadIdx.y) < h)
      for (int k = 0; k < kPer; ++k)
        part[threadIdx.y][kPer * threadIdx.x + k] += part[threadIdx.y + h][kPer * threadIdx.x + k];
    __syncthreads();
  }
  if (threadIdx.y == 0)
    for (int k = 0; k < kPer && c + k < C; ++k)
      partial[size_t(blockIdx.y) * C + c + k] = part[0][kPer * threadIdx.x + k];
}

}  // namespace cohort::cuda::column_sums
