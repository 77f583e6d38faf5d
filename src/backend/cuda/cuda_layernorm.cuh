// The LayerNorm kernels (cuda_layernorm.cu launches them; eps 1e-5): one warp per row (a
// fixed shuffle tree, so the same sums every run); the parameter gradients by column tiles
// (cuda_reduce.cuh), also in a fixed order. tests/backend/layernorm_emulated_test.cc runs
// them on the CPU through the warp emulator.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>

#include "backend/cuda/cuda_half.cuh"
#include "backend/cuda/cuda_reduce.cuh"
#include "backend/cuda/cuda_warp.cuh"

namespace cohort::cuda::layernorm {

constexpr float kEps = 1e-5f;

__device__ inline float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Rows up to 1024 wide stay in registers, K = ceil(C / 32) values a lane (K = 24 for
// GPT-2's 768): the kernels read x (and dy) from memory once instead of two or three times,
// which ncu showed missing L2 on an H200 (ln_backward_input moved 283 MB for 200 MB of
// data; ln_forward ran at 2.2 TB/s). K = 0 reads memory each time, for wider rows. Lane
// `lane` visits columns lane, lane + 32, ... in order either way: the same sums.
template <int K>
struct LaneRow {
  float v[K > 0 ? K : 1];
  const float* row;
  __device__ LaneRow(const float* r, int lane, int C) : row(r) {
    if constexpr (K > 0) {
#pragma unroll
      for (int i = 0; i < K; ++i) {
        const int c = lane + 32 * i;
        v[i] = c < C ? r[c] : 0.0f;
      }
    }
  }
  // A row of 16-bit values (K > 0 only: a passed gradient, Backend::pass_gradient).
  template <typename E>
  __device__ LaneRow(const E* r, int lane, int C) : row(nullptr) {
    static_assert(K > 0, "16-bit rows are held in registers");
#pragma unroll
    for (int i = 0; i < K; ++i) {
      const int c = lane + 32 * i;
      v[i] = c < C ? float(r[c]) : 0.0f;
    }
  }
  // The row sum = a + b, written to memory as it is read (the residual stream's add; b,
  // the branch, fp32 or 16-bit: Backend::pass_branch); read back by this lane where K = 0,
  // eight columns at a time.
  template <typename B>
  __device__ LaneRow(float* sum, const float* a, const B* b, int lane, int C) : row(sum) {
    if constexpr (K > 0) {
      add_then_store(v, sum, a, b, lane, C);
    } else {
      float s[8];
      for (int c0 = lane; c0 < C; c0 += 32 * 8) add_then_store(s, sum, a, b, c0, C);
    }
  }
  // s[j] = a[c] + b[c] for columns c = c0 + 32 j (0 past C), then sum[c] = s[j]. Every load
  // before the first store: sum may alias a or b as far as the compiler knows, so a store
  // between loads kept the next loads from issuing until it was done (PTX: a
  // load-load-store round a column, each a trip to memory).
  template <int J, typename B>
  __device__ static void add_then_store(float (&s)[J], float* sum, const float* a, const B* b,
                                        int c0, int C) {
#pragma unroll
    for (int j = 0; j < J; ++j) {
      const int c = c0 + 32 * j;
      s[j] = c < C ? a[c] + float(b[c]) : 0.0f;
    }
#pragma unroll
    for (int j = 0; j < J; ++j)
      if (c0 + 32 * j < C) sum[c0 + 32 * j] = s[j];
  }
  __device__ float operator()(int i, int c) const {
    if constexpr (K > 0) {
      (void)c;
      return v[i];
    } else {
      (void)i;
      return row[c];
    }
  }
};

// f(i, c) for this lane's columns c = lane + 32 i < C, in order.
template <int K, typename F>
__device__ void each_lane_column(int lane, int C, F&& f) {
  if constexpr (K > 0) {
#pragma unroll
    for (int i = 0; i < K; ++i)
      if (lane + 32 * i < C) f(i, lane + 32 * i);
  } else {
    for (int c = lane, i = 0; c < C; c += 32, ++i) f(i, c);
  }
}

// The widest row held in registers (32 values a lane).
constexpr int kRegisterRowMax = 1024;

// Calls f with K for a row of C: the smallest of 8, 16, 24, 32 that holds it, else 0.
template <typename F>
void with_lane_slots(int C, F&& f) {
  if (C <= 256) {
    f(std::integral_constant<int, 8>{});
  } else if (C <= 512) {
    f(std::integral_constant<int, 16>{});
  } else if (C <= 768) {
    f(std::integral_constant<int, 24>{});
  } else if (C <= kRegisterRowMax) {
    f(std::integral_constant<int, 32>{});
  } else {
    f(std::integral_constant<int, 0>{});
  }
}

// Normalizes one row held by x into y (unless null: Backend::hold_product_input), and
// into y16 rounded to E unless E is void (the 16-bit copy a GEMM will read:
// Backend::hold_input); lane 0 stores its mean and rstd.
template <int K, typename E>
__device__ void normalize_row(const LaneRow<K>& x, float* y, E* y16, float* mean, float* rstd,
                              const float* w, const float* b, int lane, int C) {
  float s = 0.0f;
  each_lane_column<K>(lane, C, [&](int i, int c) { s += x(i, c); });
  const float m = warp_sum(s) / C;
  float v = 0.0f;
  each_lane_column<K>(lane, C, [&](int i, int c) { v += (x(i, c) - m) * (x(i, c) - m); });
  const float r = rsqrtf(warp_sum(v) / C + kEps);
  // The row's outputs before any store, so that w's and b's loads are not held behind
  // stores to y (which may alias them as far as the compiler knows).
  float out[K > 0 ? K : 1];
  each_lane_column<K>(lane, C, [&](int i, int c) {
    const float o = (x(i, c) - m) * r * w[c] + b[c];
    if constexpr (K > 0) {
      out[i] = o;
    } else {
      if (y) y[c] = o;
      if constexpr (!std::is_void_v<E>) y16[c] = round16<E>(o);
    }
  });
  if constexpr (K > 0)
    each_lane_column<K>(lane, C, [&](int i, int c) {
      if (y) y[c] = out[i];
      if constexpr (!std::is_void_v<E>) y16[c] = round16<E>(out[i]);
    });
  if (lane == 0) {
    *mean = m;
    *rstd = r;
  }
}

// out16 + at, or null where E is void (no 16-bit copy).
template <typename E>
__device__ E* row_of(E* out16, size_t at) {
  if constexpr (std::is_void_v<E>) {
    (void)at;
    return nullptr;
  } else {
    return out16 + at;
  }
}

// E: the type of out16, the 16-bit copy also written, or void for none.
template <int K, typename E = void>
__global__ void ln_forward(float* out, E* out16, float* mean, float* rstd, const float* inp,
                           const float* w, const float* b, int N, int C) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  const size_t at = size_t(row) * C;
  normalize_row(LaneRow<K>(inp + at, lane, C), out ? out + at : nullptr, row_of(out16, at),
                mean + row, rstd + row, w, b, lane, C);
}

// residual = x + branch, then out = layernorm(residual), in one pass: the separate add
// read and wrote the whole stream once more (add_k ran at 3.1 TB/s, 44 us a call for
// GPT-2 124M at B=16, T=1024 on an H200, by ncu). The same values as the two ops. B: the
// branch's type, float or 16-bit (a passed branch, widened here).
template <int K, typename E = void, typename B = float>
__global__ void add_ln_forward(float* residual, float* out, E* out16, float* mean, float* rstd,
                               const float* x, const B* branch, const float* w, const float* b,
                               int N, int C) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  const size_t at = size_t(row) * C;
  normalize_row(LaneRow<K>(residual + at, x + at, branch + at, lane, C), out ? out + at : nullptr,
                row_of(out16, at), mean + row, rstd + row, w, b, lane, C);
}

template <int K>
__global__ void ln_backward_input(float* dinp, const float* dout, const float* inp, const float* w,
                                  const float* mean, const float* rstd, int N, int C) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  const LaneRow<K> x(inp + size_t(row) * C, lane, C), dy(dout + size_t(row) * C, lane, C);
  const float m = mean[row], r = rstd[row];
  float a = 0.0f, bsum = 0.0f;
  each_lane_column<K>(lane, C, [&](int i, int c) {
    const float dn = w[c] * dy(i, c);
    a += dn;
    bsum += dn * (x(i, c) - m) * r;
  });
  const float dnorm_mean = warp_sum(a) / C, dnorm_norm_mean = warp_sum(bsum) / C;
  float* dx = dinp + size_t(row) * C;
  each_lane_column<K>(lane, C, [&](int i, int c) {
    const float norm = (x(i, c) - m) * r;
    dx[c] += (w[c] * dy(i, c) - dnorm_mean - norm * dnorm_norm_mean) * r;
  });
}

// The backward in one pass over dy and x, for rows held in registers (K > 0): each warp
// computes its rows' input gradients and adds their parameter gradients to per-lane
// column sums; the block then sums its warps in warp order into row blockIdx.x of pw and
// pb (blocks x C each), which add_group_sums adds up in a fixed order. The split pair
// below read dy and x twice: 300 MB a call for GPT-2 124M at B=16, T=1024, against 200
// MB. Rows go to warps by a function of N alone (backward_blocks), so the sums repeat run
// to run. Dynamic shared memory: backward_shared_bytes.
// - dy: fp32, or (T a 16-bit type) as a product passed it (Backend::pass_gradient).
// - R, a 16-bit type (void: none): the updated input gradient (dinp after the add) is
//   also rounded into next16, and its column sums go to row blockIdx.x of pn: what the
//   next product's backward derives from it (Backend::hold_gradient), whose own pass
//   over the fp32 gradient then goes.
constexpr int kBackwardWarps = 8;

// About two blocks a multiprocessor of an H100 (132); fewer for short inputs.
inline int backward_blocks(int N) {
  return std::max(1, std::min(264, (N + kBackwardWarps - 1) / kBackwardWarps));
}

template <int K, typename T = float, typename R = void>
__global__ void __launch_bounds__(32 * kBackwardWarps, 2)
    ln_backward(float* dinp, float* pw, float* pb, const T* dout, const float* inp, const float* w,
                const float* mean, const float* rstd, int N, int C, R* next16 = nullptr,
                float* pn = nullptr) {
  static_assert(K > 0, "rows wider than 1024 take the split kernels");
  constexpr bool kNext = !std::is_void_v<R>;
  // The column sums (the weight's and bias's gradients, and with R the updated
  // gradient's) are kept in shared memory, a row a warp and sum: in registers they cost
  // occupancy (ptxas, K = 24: 202 registers with the third, one block a multiprocessor).
  COHORT_DYNAMIC_SHARED(smem);
  float* const sums = reinterpret_cast<float*>(smem);  // [sum][warp][C]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int stride = kBackwardWarps * C;
  float* const sw = sums + warp * C;
  float* const sb = sw + stride;
  float* const sn = sb + stride;  // kNext only
  each_lane_column<K>(lane, C, [&](int, int c) {
    sw[c] = sb[c] = 0.0f;
    if constexpr (kNext) sn[c] = 0.0f;
  });
  for (int row = blockIdx.x * kBackwardWarps + warp; row < N; row += gridDim.x * kBackwardWarps) {
    // dinp's row too is read up front, with x and dy, and the updated row stored after
    // all of it is computed: a store to dinp between loads kept each next load waiting
    // for it (dinp may alias w as far as the compiler knows), K trips to memory a row.
    const LaneRow<K> x(inp + size_t(row) * C, lane, C), dy(dout + size_t(row) * C, lane, C);
    LaneRow<K> dx(dinp + size_t(row) * C, lane, C);
    const float m = mean[row], r = rstd[row];
    float a = 0.0f, bsum = 0.0f;
    each_lane_column<K>(lane, C, [&](int i, int c) {
      const float norm = (x(i, c) - m) * r;
      const float dn = w[c] * dy(i, c);
      a += dn;
      bsum += dn * norm;
      sb[c] += dy(i, c);
      sw[c] += norm * dy(i, c);
    });
    const float dnorm_mean = warp_sum(a) / C, dnorm_norm_mean = warp_sum(bsum) / C;
    each_lane_column<K>(lane, C, [&](int i, int c) {
      const float norm = (x(i, c) - m) * r;
      dx.v[i] += (w[c] * dy(i, c) - dnorm_mean - norm * dnorm_norm_mean) * r;
    });
    float* const dx_row = dinp + size_t(row) * C;
    each_lane_column<K>(lane, C, [&](int i, int c) {
      dx_row[c] = dx.v[i];
      if constexpr (kNext) {
        next16[size_t(row) * C + c] = round16<R>(dx.v[i]);
        sn[c] += dx.v[i];
      }
    });
  }
  // The block's sums of one sum's warp rows into row blockIdx.x of target, warps in order.
  __syncthreads();
  auto add_warps = [&](float* target, const float* rows) {
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
      float total = rows[c];
      for (int q = 1; q < kBackwardWarps; ++q) total += rows[q * C + c];
      target[size_t(blockIdx.x) * C + c] = total;
    }
  };
  add_warps(pw, sums);
  add_warps(pb, sums + stride);
  if constexpr (kNext) add_warps(pn, sums + 2 * stride);
}

// ln_backward's dynamic shared memory, in bytes.
inline size_t backward_shared_bytes(int C, bool next) {
  return (next ? 3 : 2) * size_t(kBackwardWarps) * C * sizeof(float);
}

// Rows wider than 1024: the input gradients above (K = 0), and the parameter gradients
// from the kernel below. Sums of this block's row group into pw and pb (groups x C each):
// cuda_reduce.cuh.
__global__ void ln_backward_params(float* pw, float* pb, const float* dout, const float* inp,
                                   const float* mean, const float* rstd, int N, int C,
                                   int group_rows) {
  __shared__ float part[cuda::kColumnTile][cuda::kColumnTile + 1];
  const int c = blockIdx.x * cuda::kColumnTile + threadIdx.x;
  const int first = blockIdx.y * group_rows, end = min(N, first + group_rows);
  float sw = 0.0f, sb = 0.0f;
  if (c < C)
    for (int n = first + threadIdx.y; n < end; n += cuda::kColumnTile) {
      const float dy = dout[size_t(n) * C + c];
      sb += dy;
      sw += (inp[size_t(n) * C + c] - mean[n]) * rstd[n] * dy;
    }
  sw = cuda::column_tile_reduce(sw, part);
  sb = cuda::column_tile_reduce(sb, part);
  if (threadIdx.y == 0 && c < C) {
    pw[size_t(blockIdx.y) * C + c] = sw;
    pb[size_t(blockIdx.y) * C + c] = sb;
  }
}

}  // namespace cohort::cuda::layernorm
