// Causal attention on tensor cores for the 16-bit precisions: FlashAttention-2 (Dao
// 2023) with the scores, probabilities and accumulators in registers. q (pre-scaled by
// 1/sqrt(HS)), k, v and dO are rounded to the 16-bit type once, into scratch, before the
// kernels; P (for P V and P^T dO) and dS (for dS K and dS^T Q) are rounded in registers,
// as in FlashAttention-2; softmax statistics, D = rowsum(dO * O), outputs and gradients
// stay fp32. The fp32 kernels of cuda_flash_attention.cu keep the fp32 precision, other
// head sizes and attention dropout.
//
// Products are PTX mma.sync.m16n8k16 (fp32 accumulation), whose register layouts the PTX
// ISA specifies (section "Matrix fragments for mma.m16n8k16"): with g = lane / 4 and
// q = lane % 4, an A fragment (16 x 16, row-major) holds rows g and g + 8 at columns
// 2q, 2q + 1 and 2q + 8, 2q + 9; a B fragment (16 x 8) holds column g at rows 2q, 2q + 1
// and 2q + 8, 2q + 9; an accumulator (16 x 8) holds rows g and g + 8 at columns 2q, 2q + 1.
// So an accumulator of scores is, packed in pairs, the A fragment of the next product
// (the probabilities never leave registers), and a row's statistics are reductions over
// the four lanes of a group. An operand read along its rows is a 32-bit shared load of two
// neighbours; one read along its columns comes from a transposed copy of the tile.
//
// Block: 64 query (or key) rows, four warps of 16. Deterministic without atomics: dQ and
// (dK, dV) are separate kernels, each owning its output rows and walking its partners in
// order. (A first version on WMMA, with the scores through shared memory because WMMA's
// register layout is opaque, was limited by shared memory, ncu said: its forward took
// 0.56 ms a layer at B=16, T=1024 on an H200, against 0.26 ms for this one.)
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_flash_attention_tc.h"
#include "backend/cuda/cuda_half.cuh"

namespace cohort::cuda {

namespace {

constexpr int kHS = 64, kTile = 64, kThreads = 128;
constexpr int kLd = kHS + 8;             // 16-bit tile rows, padded: conflict-free pair loads
constexpr int kTileElems = kTile * kLd;  // one shared tile
constexpr unsigned kFull = 0xffffffffu;

// D (16 x 8, fp32) += A (16 x 16) . B (16 x 8), operands of the 16-bit type `ty`.
#define COHORT_MMA_16816(ty, d, a, b0, b1)                                    \
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." ty "." ty             \
               ".f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n" \
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])               \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1))

// The 16-bit type's pair packing and its mma (its rounding: cuda_half.cuh).
template <typename E>
struct Half16 {
  static constexpr bool kBf16 = std::is_same_v<E, __nv_bfloat16>;
  __device__ static uint32_t pack(float lo, float hi) {
    if constexpr (kBf16) {
      const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
      return *reinterpret_cast<const uint32_t*>(&v);
    } else {
      const __half2 v = __floats2half2_rn(lo, hi);
      return *reinterpret_cast<const uint32_t*>(&v);
    }
  }
  __device__ static void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    if constexpr (kBf16)
      COHORT_MMA_16816("bf16", d, a, b0, b1);
    else
      COHORT_MMA_16816("f16", d, a, b0, b1);
  }
};

struct Shape {
  int B, T, C, NH;
  size_t ld;  // row stride of q, k, v, dq, dk, dv: 3C
  float scale;
};

// Elements (row, col) and (row, col + 1) of a shared tile, col even.
template <typename E>
__device__ uint32_t pair(const E* tile, int row, int col) {
  return *reinterpret_cast<const uint32_t*>(tile + row * kLd + col);
}

// Rows [first, first + 64) of head h of x (16-bit, row stride ld) into tile, 16 bytes a
// copy; rows at or past T become 0. Every thread of the block calls it.
template <typename E>
__device__ void load_tile(E* tile, const E* x, size_t ld, const Shape& s, int b, int h, int first) {
  constexpr int kChunks = kHS * int(sizeof(E)) / 16;  // 16-byte chunks per row
  for (int e = threadIdx.x; e < kTile * kChunks; e += kThreads) {
    const int r = e / kChunks, chunk = e % kChunks, t = first + r;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (t < s.T)
      v = reinterpret_cast<const uint4*>(x + (size_t(b) * s.T + t) * ld + h * kHS)[chunk];
    reinterpret_cast<uint4*>(tile + r * kLd)[chunk] = v;
  }
}

// The same rows transposed: tile[d][r] = x[first + r][d]. Consecutive threads take
// consecutive rows, so the 16-bit stores of a warp fall in distinct banks.
template <typename E>
__device__ void load_tile_transposed(E* tile, const E* x, size_t ld, const Shape& s, int b, int h,
                                     int first) {
  constexpr int kPerChunk = 16 / int(sizeof(E)), kChunks = kHS / kPerChunk;
  for (int e = threadIdx.x; e < kTile * kChunks; e += kThreads) {
    const int r = e % kTile, chunk = e / kTile, t = first + r;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (t < s.T)
      v = reinterpret_cast<const uint4*>(x + (size_t(b) * s.T + t) * ld + h * kHS)[chunk];
    const E* values = reinterpret_cast<const E*>(&v);
#pragma unroll
    for (int i = 0; i < kPerChunk; ++i) tile[(chunk * kPerChunk + i) * kLd + r] = values[i];
  }
}

// The A fragments (16 x 64: four k-chunks of 16) of rows r0.. of a shared tile.
template <typename E>
__device__ void load_a(uint32_t (&a)[4][4], const E* tile, int r0) {
  const int g = threadIdx.x % 32 / 4, q = threadIdx.x % 4;
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    a[kk][0] = pair(tile, r0 + g, 16 * kk + 2 * q);
    a[kk][1] = pair(tile, r0 + g + 8, 16 * kk + 2 * q);
    a[kk][2] = pair(tile, r0 + g, 16 * kk + 8 + 2 * q);
    a[kk][3] = pair(tile, r0 + g + 8, 16 * kk + 8 + 2 * q);
  }
}

// acc (16 x 64 as eight 16 x 8 blocks) += A (16 x 64, fragments a) . B, where B's column
// n is row n of the shared tile `rows_of_b` (B = tile^T: 64 x 64).
template <typename E>
__device__ void product(float (&acc)[8][4], const uint32_t (&a)[4][4], const E* rows_of_b) {
  const int g = threadIdx.x % 32 / 4, q = threadIdx.x % 4;
#pragma unroll
  for (int n = 0; n < 8; ++n)
#pragma unroll
    for (int kk = 0; kk < 4; ++kk)
      Half16<E>::mma(acc[n], a[kk], pair(rows_of_b, 8 * n + g, 16 * kk + 2 * q),
                     pair(rows_of_b, 8 * n + g, 16 * kk + 8 + 2 * q));
}

__device__ void zero(float (&acc)[8][4]) {
#pragma unroll
  for (int n = 0; n < 8; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[n][e] = 0.0f;
}

// x (16 x 64) = rows r0.. of a_tile times rows_of_b^T: a product from zero.
template <typename E>
__device__ void rows_times(float (&x)[8][4], const E* a_tile, int r0, const E* rows_of_b) {
  uint32_t a[4][4];
  load_a(a, a_tile, r0);
  zero(x);
  product<E>(x, a, rows_of_b);
}

// Accumulators (16 x 64) of fp32 values, rounded, as the A fragments of a product over
// their 64 columns.
template <typename E>
__device__ void as_a(uint32_t (&a)[4][4], const float (&x)[8][4]) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    a[kk][0] = Half16<E>::pack(x[2 * kk][0], x[2 * kk][1]);
    a[kk][1] = Half16<E>::pack(x[2 * kk][2], x[2 * kk][3]);
    a[kk][2] = Half16<E>::pack(x[2 * kk + 1][0], x[2 * kk + 1][1]);
    a[kk][3] = Half16<E>::pack(x[2 * kk + 1][2], x[2 * kk + 1][3]);
  }
}

// Writes accumulators (16 x 64) times factor to rows first, first + 1, ... of head h of
// dst (row stride ld), rows < T only.
__device__ void store(float* dst, size_t ld, const float (&acc)[8][4], float factor, const Shape& s,
                      int b, int h, int first) {
  const int g = threadIdx.x % 32 / 4, q = threadIdx.x % 4;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int t = first + g + 8 * half;
    if (t >= s.T) continue;
    float* row = dst + (size_t(b) * s.T + t) * ld + h * kHS;
#pragma unroll
    for (int n = 0; n < 8; ++n) {
      row[8 * n + 2 * q] = factor * acc[n][2 * half];
      row[8 * n + 2 * q + 1] = factor * acc[n][2 * half + 1];
    }
  }
}

// Over the four lanes of a group (one accumulator row), in a fixed tree.
__device__ float group_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(kFull, v, 1));
  return fmaxf(v, __shfl_xor_sync(kFull, v, 2));
}
__device__ float group_sum(float v) {
  v += __shfl_xor_sync(kFull, v, 1);
  return v + __shfl_xor_sync(kFull, v, 2);
}

// Forward: block per (query tile, b * NH + h), the last query tiles (most keys) first.
template <typename E>
__global__ void __launch_bounds__(kThreads)
    tc_forward(float* out, float* lse, const E* q, const E* k, const E* v, Shape s) {
  extern __shared__ __align__(128) unsigned char smem[];
  E* qs = reinterpret_cast<E*>(smem);
  E* ks = qs + kTileElems;
  E* vt = ks + kTileElems;  // V transposed: the columns of P V's B
  const int b = blockIdx.y / s.NH, h = blockIdx.y % s.NH;
  const int t0 = (gridDim.x - 1 - blockIdx.x) * kTile;
  const int r0 = threadIdx.x / 32 * 16, g = threadIdx.x % 32 / 4, lq = threadIdx.x % 4;
  const int row[2] = {t0 + r0 + g, t0 + r0 + g + 8};  // this lane's two query rows
  load_tile(qs, q, s.ld, s, b, h, t0);
  __syncthreads();
  uint32_t qa[4][4];
  load_a(qa, qs, r0);
  float o[8][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  zero(o);
  for (int j0 = 0; j0 <= t0 && j0 < s.T; j0 += kTile) {
    __syncthreads();  // the previous tile's readers are done
    load_tile(ks, k, s.ld, s, b, h, j0);
    load_tile_transposed(vt, v, s.ld, s, b, h, j0);
    __syncthreads();
    float sc[8][4];
    zero(sc);
    product<E>(sc, qa, ks);
    // Online softmax; every row sees key j0 <= its own, so m stays finite.
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < 8; ++n)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          float& x = sc[n][2 * half + e];
          if (j0 + 8 * n + 2 * lq + e > row[half]) x = -INFINITY;
          mx = fmaxf(mx, x);
        }
      const float m_new = fmaxf(m[half], group_max(mx));
      const float correction = expf(m[half] - m_new);
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < 8; ++n)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          float& x = sc[n][2 * half + e];
          x = expf(x - m_new);
          sum += x;
          o[n][2 * half + e] *= correction;
        }
      l[half] = l[half] * correction + group_sum(sum);
      m[half] = m_new;
    }
    uint32_t pa[4][4];
    as_a<E>(pa, sc);
    product<E>(o, pa, vt);
  }
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const float inv = 1.0f / l[half];
#pragma unroll
    for (int n = 0; n < 8; ++n) {
      o[n][2 * half] *= inv;
      o[n][2 * half + 1] *= inv;
    }
    if (lq == 0 && row[half] < s.T)
      lse[(size_t(b) * s.NH + h) * s.T + row[half]] = m[half] + logf(l[half]);
  }
  store(out, size_t(s.C), o, 1.0f, s, b, h, t0 + r0);
}

// dQ = scale * dS K, dS = P * (dP - D), dP = dO V^T: block per (query tile, b * NH + h).
template <typename E>
__global__ void __launch_bounds__(kThreads)
    tc_backward_dq(float* dq, const E* dout, const E* q, const E* k, const E* v, const float* lse,
                   const float* dsum, Shape s) {
  extern __shared__ __align__(128) unsigned char smem[];
  E* qs = reinterpret_cast<E*>(smem);
  E* dos = qs + kTileElems;
  E* ks = dos + kTileElems;
  E* kt = ks + kTileElems;  // K transposed: the columns of dS K's B
  E* vs = kt + kTileElems;
  const int b = blockIdx.y / s.NH, h = blockIdx.y % s.NH;
  const int t0 = (gridDim.x - 1 - blockIdx.x) * kTile;
  const int r0 = threadIdx.x / 32 * 16, g = threadIdx.x % 32 / 4, lq = threadIdx.x % 4;
  const int row[2] = {t0 + r0 + g, t0 + r0 + g + 8};
  float row_lse[2], row_d[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const size_t i = (size_t(b) * s.NH + h) * s.T + row[half];
    row_lse[half] = row[half] < s.T ? lse[i] : 0.0f;
    row_d[half] = row[half] < s.T ? dsum[i] : 0.0f;
  }
  load_tile(qs, q, s.ld, s, b, h, t0);
  load_tile(dos, dout, size_t(s.C), s, b, h, t0);
  float acc[8][4];
  zero(acc);
  for (int j0 = 0; j0 <= t0 && j0 < s.T; j0 += kTile) {
    __syncthreads();
    load_tile(ks, k, s.ld, s, b, h, j0);
    load_tile_transposed(kt, k, s.ld, s, b, h, j0);
    load_tile(vs, v, s.ld, s, b, h, j0);
    __syncthreads();
    float sc[8][4], dp[8][4];
    rows_times(sc, qs, r0, ks);
    rows_times(dp, dos, r0, vs);
#pragma unroll
    for (int n = 0; n < 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int half = e / 2;
        const float p =
            j0 + 8 * n + 2 * lq + e % 2 <= row[half] ? expf(sc[n][e] - row_lse[half]) : 0.0f;
        sc[n][e] = p * (dp[n][e] - row_d[half]);  // dS
      }
    uint32_t da[4][4];
    as_a<E>(da, sc);
    product<E>(acc, da, kt);
  }
  store(dq, s.ld, acc, s.scale, s, b, h, t0 + r0);
}

// dV = P^T dO and dK = dS^T (scale q): block per (key tile, b * NH + h), each warp 16
// keys, walking the query tiles from the key tile's own to the last.
template <typename E>
__global__ void __launch_bounds__(kThreads, 3)  // 3 blocks a multiprocessor: <= 170 registers
    tc_backward_dkv(float* dk, float* dv, const E* dout, const E* q, const E* k, const E* v,
                    const float* lse, const float* dsum, Shape s) {
  extern __shared__ __align__(128) unsigned char smem[];
  E* ks = reinterpret_cast<E*>(smem);
  E* vs = ks + kTileElems;
  E* qs = vs + kTileElems;
  E* qt = qs + kTileElems;  // Q transposed: the columns of dS^T Q's B
  E* dos = qt + kTileElems;
  E* dot = dos + kTileElems;  // dO transposed: the columns of P^T dO's B
  float* tile_lse = reinterpret_cast<float*>(dot + kTileElems);
  float* tile_d = tile_lse + kTile;
  const int b = blockIdx.y / s.NH, h = blockIdx.y % s.NH;
  const int j0 = blockIdx.x * kTile;
  const int r0 = threadIdx.x / 32 * 16, g = threadIdx.x % 32 / 4, lq = threadIdx.x % 4;
  const int key[2] = {j0 + r0 + g, j0 + r0 + g + 8};  // this lane's two key rows
  load_tile(ks, k, s.ld, s, b, h, j0);
  load_tile(vs, v, s.ld, s, b, h, j0);
  float gk[8][4], gv[8][4];
  zero(gk);
  zero(gv);
  for (int i0 = j0; i0 < s.T; i0 += kTile) {
    __syncthreads();
    load_tile(qs, q, s.ld, s, b, h, i0);
    load_tile_transposed(qt, q, s.ld, s, b, h, i0);
    load_tile(dos, dout, size_t(s.C), s, b, h, i0);
    load_tile_transposed(dot, dout, size_t(s.C), s, b, h, i0);
    for (int e = threadIdx.x; e < kTile; e += kThreads) {
      const int t = i0 + e;
      const size_t i = (size_t(b) * s.NH + h) * s.T + t;
      tile_lse[e] = t < s.T ? lse[i] : 0.0f;
      tile_d[e] = t < s.T ? dsum[i] : 0.0f;
    }
    __syncthreads();
    float st[8][4], dpt[8][4];  // S^T and dP^T: rows keys, columns queries
    rows_times(st, ks, r0, qs);
    rows_times(dpt, vs, r0, dos);
#pragma unroll
    for (int n = 0; n < 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int c = 8 * n + 2 * lq + e % 2, t = i0 + c;
        const float p = t >= key[e / 2] && t < s.T ? expf(st[n][e] - tile_lse[c]) : 0.0f;
        st[n][e] = p;
        dpt[n][e] = p * (dpt[n][e] - tile_d[c]);  // dS^T
      }
    uint32_t a[4][4];
    as_a<E>(a, st);
    product<E>(gv, a, dot);
    as_a<E>(a, dpt);
    product<E>(gk, a, qt);
  }
  store(dk, s.ld, gk, 1.0f, s, b, h, j0 + r0);
  store(dv, s.ld, gv, 1.0f, s, b, h, j0 + r0);
}

// dst (rows x width, 16-bit) = src (fp32) rounded, the first `scaled` columns of each
// row times scale (q's 1/sqrt(HS)): the kernels' inputs, rounded once rather than once
// per tile that loads them.
template <typename E>
__global__ void round_rows(E* dst, const float* src, size_t n, int width, int scaled, float scale) {
  const size_t i = (size_t(blockIdx.x) * blockDim.x + threadIdx.x) * 4;
  if (i >= n) return;
  const float4 v = *reinterpret_cast<const float4*>(src + i);
  const float f = int(i % width) < scaled ? scale : 1.0f;  // width and scaled are 4k
  dst[i] = round16<E>(f * v.x);
  dst[i + 1] = round16<E>(f * v.y);
  dst[i + 2] = round16<E>(f * v.z);
  dst[i + 3] = round16<E>(f * v.w);
}

constexpr size_t kTileBytes = kTileElems * 2;
constexpr size_t kForwardShared = 3 * kTileBytes;
constexpr size_t kDqShared = 5 * kTileBytes;
constexpr size_t kDkvShared = 6 * kTileBytes + 2 * kTile * sizeof(float);

// Over 48 KB of dynamic shared memory needs the kernel's consent, once.
template <typename K>
void allow_shared(K kernel, size_t bytes) {
  COHORT_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

Shape shape_of(int B, int T, int C, int NH) {
  return {B, T, C, NH, size_t(3) * C, 1.0f / std::sqrt(float(kHS))};
}

// The 16-bit copy of qkv (q scaled) in scratch, then of dout after it when given.
template <typename E>
void round_inputs(E* scratch, const float* qkv, const float* dout, int B, int T, int C) {
  const size_t n_qkv = size_t(B) * T * 3 * C;
  round_rows<<<blocks_for(n_qkv / 4, 256), 256>>>(scratch, qkv, n_qkv, 3 * C, C,
                                                  1.0f / std::sqrt(float(kHS)));
  COHORT_CUDA_LAUNCHED();
  if (!dout) return;
  const size_t n_out = size_t(B) * T * C;
  round_rows<<<blocks_for(n_out / 4, 256), 256>>>(scratch + n_qkv, dout, n_out, C, 0, 1.0f);
  COHORT_CUDA_LAUNCHED();
}

template <typename E>
void forward(float* out, float* lse, const float* qkv, void* scratch, int B, int T, int C, int NH) {
  static const bool ready = (allow_shared(tc_forward<E>, kForwardShared), true);
  (void)ready;
  E* qkv16 = static_cast<E*>(scratch);
  round_inputs(qkv16, qkv, nullptr, B, T, C);
  const Shape s = shape_of(B, T, C, NH);
  const dim3 grid(unsigned((T + kTile - 1) / kTile), unsigned(B * NH));
  tc_forward<E><<<grid, kThreads, kForwardShared>>>(out, lse, qkv16, qkv16 + C, qkv16 + 2 * C, s);
  COHORT_CUDA_LAUNCHED();
}

template <typename E>
void backward(float* dqkv, const float* dout, const float* qkv, const float* lse, const float* dsum,
              void* scratch, int B, int T, int C, int NH) {
  static const bool ready = (allow_shared(tc_backward_dq<E>, kDqShared),
                             allow_shared(tc_backward_dkv<E>, kDkvShared), true);
  (void)ready;
  E* qkv16 = static_cast<E*>(scratch);
  const E* dout16 = qkv16 + size_t(B) * T * 3 * C;
  round_inputs(qkv16, qkv, dout, B, T, C);
  const Shape s = shape_of(B, T, C, NH);
  const dim3 grid(unsigned((T + kTile - 1) / kTile), unsigned(B * NH));
  const E *q = qkv16, *k = qkv16 + C, *v = qkv16 + 2 * C;
  tc_backward_dq<E><<<grid, kThreads, kDqShared>>>(dqkv, dout16, q, k, v, lse, dsum, s);
  COHORT_CUDA_LAUNCHED();
  tc_backward_dkv<E>
      <<<grid, kThreads, kDkvShared>>>(dqkv + C, dqkv + 2 * C, dout16, q, k, v, lse, dsum, s);
  COHORT_CUDA_LAUNCHED();
}

}  // namespace

bool tensor_core_attention_fits(int C, int NH, float dropout, const float* qkv, const float* dout) {
  auto aligned = [](const float* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  return C % NH == 0 && C / NH == kHS && dropout <= 0.0f && aligned(qkv) && aligned(dout);
}

size_t tensor_core_attention_scratch_bytes(int B, int T, int C) {
  return size_t(B) * T * 4 * C * 2;
}

void tensor_core_attention_forward(bool bf16, float* out, float* lse, const float* qkv,
                                   void* scratch, int B, int T, int C, int NH) {
  if (bf16)
    forward<__nv_bfloat16>(out, lse, qkv, scratch, B, T, C, NH);
  else
    forward<__half>(out, lse, qkv, scratch, B, T, C, NH);
}

void tensor_core_attention_backward(bool bf16, float* dqkv, const float* dout, const float* qkv,
                                    const float* lse, const float* dsum, void* scratch, int B,
                                    int T, int C, int NH) {
  if (bf16)
    backward<__nv_bfloat16>(dqkv, dout, qkv, lse, dsum, scratch, B, T, C, NH);
  else
    backward<__half>(dqkv, dout, qkv, lse, dsum, scratch, B, T, C, NH);
}

}  // namespace cohort::cuda
