// The device code of the tensor-core causal attention (cuda_flash_attention_tc.cu launches
// it; tests/backend/tc_attention_emulated_test.cc runs it on the CPU): FlashAttention-2
// (Dao 2023) with the scores, probabilities and accumulators in registers. q, k, v (by
// the GEMM that computes them, or a rounding pass) and dO are rounded to the 16-bit type
// once, before the kernels; P (for P V and P^T dO) and dS (for
// dS K and dS^T Q) are rounded in registers, as in FlashAttention-2; softmax statistics,
// D = rowsum(dO * O), outputs and gradients stay fp32. Attention dropout draws the CPU's
// masks (cuda_dropout.cuh): P V and P^T dO take the kept probabilities, the softmax sums
// and dS all of them, as the fp32 kernels do. Those (cuda_flash_attention.cu) keep the
// fp32 precision and the other head sizes.
//
// Products are PTX mma.sync.m16n8k16 (fp32 accumulation), whose register layouts the PTX
// ISA specifies (section "Matrix fragments for mma.m16n8k16"): with g = lane / 4 and
// q = lane % 4, an A fragment (16 x 16, row-major) holds rows g and g + 8 at columns
// 2q, 2q + 1 and 2q + 8, 2q + 9; a B fragment (16 x 8) holds column g at rows 2q, 2q + 1
// and 2q + 8, 2q + 9; an accumulator (16 x 8) holds rows g and g + 8 at columns 2q, 2q + 1.
// So an accumulator of scores is, packed in pairs, the A fragment of the next product
// (the probabilities never leave registers), and a row's statistics are reductions over
// the four lanes of a group. Fragments come from shared tiles through ldmatrix (four 8 x 8
// matrices a warp instruction), .trans for an operand read along its columns (V in P V,
// K in dS K, Q and dO in dK and dV), so no transposed copy of a tile exists. (Until
// 2026-11-28 they were 32-bit loads of two neighbours, and the column-read operands came
// from transposed copies written with 16-bit stores; ncu showed the forward limited by
// shared-memory throughput, 68%, against 45% for the tensor cores. Each accumulator takes
// the same products in the same order either way.)
//
// Tiles arrive by cp.async, double-buffered: while a block multiplies one key tile (or,
// for dK and dV, one query tile with its lse and D), the next one is being copied in.
//
// Block: 64 query (or key) rows, four warps of 16. Deterministic without atomics: dQ and
// (dK, dV) are separate kernels, each owning its output rows and walking its partners in
// order. (A first version on WMMA, with the scores through shared memory because WMMA's
// register layout is opaque, was limited by shared memory, ncu said: its forward took
// 0.56 ms a layer at B=16, T=1024 on an H200, against 0.26 ms for the register version
// before ldmatrix, cp.async and the base-2 softmax, which no GPU has timed yet.)
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "backend/cuda/cuda_dropout.cuh"
#include "backend/cuda/cuda_half.cuh"
#include "backend/cuda/cuda_warp.cuh"

namespace cohort::cuda::tc_attention {

// Head sizes HS of 32, 64 and 128 (tensor_core_attention_fits), a template parameter of
// the kernels: a tile is 64 rows of HS, each row padded by 8 values (16 bytes) so the
// eight rows an ldmatrix reads start in distinct banks (row strides of 80, 144 and 272
// bytes). The products over a key tile are 64 wide whatever HS is; q's and dO's A
// fragments hold HS / 16 chunks of 16, and each output accumulator HS / 8 blocks of 8.
// The forward's variants (wide, pipelined: AttentionForward) are written for 64 alone.
// ptxas (sm_90), without dropout, at head sizes 32 / 128: the forward 88 / 174 registers,
// dQ 139 / 178, dK/dV in two parts 166 / 255 (two blocks a multiprocessor at 128), no
// spills; with dropout's code the 128 kernels spill 36 to 200 bytes.
constexpr int kHS = 64, kTile = 64, kThreads = 128;
template <int HS>
constexpr int kLdOf = HS + 8;  // 16-bit tile rows, padded
template <int HS>
constexpr int kTileElemsOf = (HS + 8) * kTile;  // one shared tile: 64 padded rows
constexpr int kLd = kLdOf<kHS>;
constexpr int kTileElems = kTileElemsOf<kHS>;
// Whether the kernels take head size hs.
constexpr bool takes_head_size(int hs) { return hs == 32 || hs == 64 || hs == 128; }
constexpr unsigned kFull = 0xffffffffu;
// The softmax runs in base 2: each exponential is one ex2 of fma(q . k, log2(e) /
// sqrt(HS), -max) (expf is nine instructions, exp2f one; the softmax's arithmetic, not
// the tensor cores, bounds these kernels), and the log-sum-exp is kept in those units for
// the backward. (Until 2026-11-28 q was rounded with that factor in it, which needed a
// rounding pass of its own; now the qkv GEMM may write q, k, v in 16 bits directly.)
constexpr float kLog2e = 1.4426950408889634f;

// The 16-bit type's pair packing and its mma (its rounding: cuda_half.cuh).
template <typename E>
struct Half16 {
  static constexpr bool kBf16 = std::is_same_v<E, __nv_bfloat16>;
  __device__ static uint32_t pack(float lo, float hi) {
    if constexpr (kBf16) {
      const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
      uint32_t r;
      memcpy(&r, &v, 4);
      return r;
    } else {
      const __half2 v = __floats2half2_rn(lo, hi);
      uint32_t r;
      memcpy(&r, &v, 4);
      return r;
    }
  }
  __device__ static void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    mma_16816<E>(d, a, b0, b1);
  }
};

struct Shape {
  int B, T, C, NH;
  size_t ld;           // row stride of q, k, v, dq, dk, dv: 3C
  float scale;         // of the scores: 1 / sqrt(HS)
  float score2;        // q . k to the base-2 softmax's units: log2(e) / sqrt(HS)
  DropoutKey dropout;  // on the probabilities (inactive: p = 0)
};

// The kernels' grid: x over (b, h), y over row tiles of `rows` (64, or 128 for the wide
// forward), each kernel taking its heaviest tiles (most partners under the causal mask)
// at y = 0. Blocks start in order of x, then y, so every head's heaviest tiles start
// first and the last to start are the lightest: with heads in y (until 2026-11-28) the
// last heads' heaviest tiles started last, and a list-scheduling model of a GPT-2 step's
// launches put that tail at 10% to 18% of each kernel's time (1% to 3% this way).
inline dim3 grid_of(const Shape& s, int rows) {
  return dim3(unsigned(s.B * s.NH), unsigned((s.T + rows - 1) / rows));
}

// Attention dropout's multiplier of query t's probability of key t2 in head h of sample
// b: the CPU's mask, element (h T + t) T + t2 of the sample (cuda_dropout.cuh).
__device__ inline float keep(const Shape& s, int b, int h, int t, int t2) {
  return dropout_multiplier(s.dropout, s.dropout.sample_offset + uint32_t(b),
                            (uint64_t(h) * s.T + uint64_t(t)) * s.T + uint64_t(t2));
}

// Starts copying rows [first, first + 64) of head h of x (16-bit, row stride ld) into
// tile, 16 bytes a cp.async; rows at or past T become 0. Every thread of the block calls
// it; the tile is ready after the caller's cp_async_wait and a __syncthreads().
template <int HS, typename E>
__device__ void load_tile(E* tile, const E* x, size_t ld, const Shape& s, int b, int h, int first) {
  constexpr int kPerChunk = 16 / int(sizeof(E)), kChunks = HS / kPerChunk;
  for (int e = threadIdx.x; e < kTile * kChunks; e += kThreads) {
    const int r = e / kChunks, chunk = e % kChunks, t = first + r;
    const int src_row = t < s.T ? t : s.T - 1;  // an address inside x even when not read
    cp_async16(tile + r * kLdOf<HS> + chunk * kPerChunk,
               x + (size_t(b) * s.T + src_row) * ld + h * HS + chunk * kPerChunk, t < s.T);
  }
}

// Starts copying the 64 per-row values of head h (lse or D, (B, NH, T)) from row first
// into tile; rows at or past T become 0.
__device__ inline void load_row_values(float* tile, const float* x, const Shape& s, int b, int h,
                                       int first) {
  for (int e = threadIdx.x; e < kTile; e += kThreads) {
    const int t = first + e;
    cp_async4(tile + e, x + (size_t(b) * s.NH + h) * s.T + (t < s.T ? t : s.T - 1), t < s.T);
  }
}

// The A fragments (16 x HS: KC = HS / 16 k-chunks of 16) of rows r0.. of a shared tile:
// for chunk kk, matrices (rows +0, cols +0), (+8, +0), (+0, +8), (+8, +8) are a[kk][0..3].
template <typename E, int KC>
__device__ void load_a(uint32_t (&a)[KC][4], const E* tile, int r0) {
  constexpr int kRow = kLdOf<16 * KC>;
  const int lane = threadIdx.x % 32;
  const E* row = tile + (r0 + lane % 8 + lane / 8 % 2 * 8) * kRow + lane / 16 * 8;
#pragma unroll
  for (int kk = 0; kk < KC; ++kk) ldsm_x4(a[kk], row + 16 * kk);
}

// acc (16 x 8NB as NB 16 x 8 blocks; NB = 8: 64 columns) += A (16 x 16KC, fragments a)
// . B, where B's column n is row n of the shared tile `rows_of_b` (B = tile^T: 16KC x
// 8NB; tile rows of 16KC = HS). For rows 8n.., one ldmatrix gives the B fragments of
// chunks kk and kk + 1: columns +0, +8, +16, +24.
template <typename E, int NB, int KC>
__device__ void product(float (&acc)[NB][4], const uint32_t (&a)[KC][4], const E* rows_of_b) {
  static_assert(KC % 2 == 0, "chunks go in pairs");
  constexpr int kRow = kLdOf<16 * KC>;
  const int lane = threadIdx.x % 32;
  const E* row = rows_of_b + lane % 8 * kRow + lane / 8 * 8;
#pragma unroll
  for (int n = 0; n < NB; ++n)
#pragma unroll
    for (int kk = 0; kk < KC; kk += 2) {
      uint32_t b[4];
      ldsm_x4(b, row + 8 * n * kRow + 16 * kk);
      Half16<E>::mma(acc[n], a[kk], b[0], b[1]);
      Half16<E>::mma(acc[n], a[kk + 1], b[2], b[3]);
    }
}

// acc (16 x 8NO, NO = HS / 8) += A (16 x 16KC, fragments a; KC = 4: 64) . B, where B is
// the shared tile itself (16KC x HS: its rows are the products' k). ldmatrix.trans reads
// B along its columns: for chunk kk, matrices (rows +0, cols 8n), (+8, 8n), (+0, 8n + 8),
// (+8, 8n + 8) are the B fragments of column blocks n and n + 1.
template <typename E, int KC, int NO>
__device__ void product_t(float (&acc)[NO][4], const uint32_t (&a)[KC][4], const E* tile) {
  static_assert(NO % 2 == 0, "column blocks go in pairs");
  constexpr int kRow = kLdOf<8 * NO>;
  const int lane = threadIdx.x % 32;
  const E* row = tile + (lane % 8 + lane / 8 % 2 * 8) * kRow + lane / 16 * 8;
#pragma unroll
  for (int n = 0; n < NO; n += 2)
#pragma unroll
    for (int kk = 0; kk < KC; ++kk) {
      uint32_t b[4];
      ldsm_x4_trans(b, row + 16 * kk * kRow + 8 * n);
      Half16<E>::mma(acc[n], a[kk], b[0], b[1]);
      Half16<E>::mma(acc[n + 1], a[kk], b[2], b[3]);
    }
}

// product for two 16-row slices at once: each ldmatrix of B feeds both (acc0 += a0 . B,
// acc1 += a1 . B), each accumulator taking its products in product's order.
template <typename E>
__device__ void product2(float (&acc0)[8][4], float (&acc1)[8][4], const uint32_t (&a0)[4][4],
                         const uint32_t (&a1)[4][4], const E* rows_of_b) {
  const int lane = threadIdx.x % 32;
  const E* row = rows_of_b + lane % 8 * kLd + lane / 8 * 8;
#pragma unroll
  for (int n = 0; n < 8; ++n)
#pragma unroll
    for (int kk = 0; kk < 4; kk += 2) {
      uint32_t b[4];
      ldsm_x4(b, row + 8 * n * kLd + 16 * kk);
      Half16<E>::mma(acc0[n], a0[kk], b[0], b[1]);
      Half16<E>::mma(acc0[n], a0[kk + 1], b[2], b[3]);
      Half16<E>::mma(acc1[n], a1[kk], b[0], b[1]);
      Half16<E>::mma(acc1[n], a1[kk + 1], b[2], b[3]);
    }
}

// product_t for two slices at once, likewise.
template <typename E>
__device__ void product_t2(float (&acc0)[8][4], float (&acc1)[8][4], const uint32_t (&a0)[4][4],
                           const uint32_t (&a1)[4][4], const E* tile) {
  const int lane = threadIdx.x % 32;
  const E* row = tile + (lane % 8 + lane / 8 % 2 * 8) * kLd + lane / 16 * 8;
#pragma unroll
  for (int n = 0; n < 8; n += 2)
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      uint32_t b[4];
      ldsm_x4_trans(b, row + 16 * kk * kLd + 8 * n);
      Half16<E>::mma(acc0[n], a0[kk], b[0], b[1]);
      Half16<E>::mma(acc0[n + 1], a0[kk], b[2], b[3]);
      Half16<E>::mma(acc1[n], a1[kk], b[0], b[1]);
      Half16<E>::mma(acc1[n + 1], a1[kk], b[2], b[3]);
    }
}

template <int NB>
__device__ void zero(float (&acc)[NB][4]) {
#pragma unroll
  for (int n = 0; n < NB; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[n][e] = 0.0f;
}

// x (16 x 8NB) = rows r0.. of a_tile times (8NB rows of rows_of_b)^T, both tiles' rows HS
// wide: a product from zero.
template <int HS, typename E, int NB = 8>
__device__ void rows_times(float (&x)[NB][4], const E* a_tile, int r0, const E* rows_of_b) {
  uint32_t a[HS / 16][4];
  load_a(a, a_tile, r0);
  zero(x);
  product<E, NB>(x, a, rows_of_b);
}

// Accumulators (16 x 16KC) of fp32 values, rounded, as the A fragments of a product over
// their 16KC columns.
template <typename E, int KC = 4>
__device__ void as_a(uint32_t (&a)[KC][4], const float (&x)[2 * KC][4]) {
#pragma unroll
  for (int kk = 0; kk < KC; ++kk) {
    a[kk][0] = Half16<E>::pack(x[2 * kk][0], x[2 * kk][1]);
    a[kk][1] = Half16<E>::pack(x[2 * kk][2], x[2 * kk][3]);
    a[kk][2] = Half16<E>::pack(x[2 * kk + 1][0], x[2 * kk + 1][1]);
    a[kk][3] = Half16<E>::pack(x[2 * kk + 1][2], x[2 * kk + 1][3]);
  }
}

// Writes accumulators (16 x HS, HS = 8NO) times factor to rows first, first + 1, ... of
// head h of dst (row stride ld), rows < T only: fp32 (D = float), or rounded to D, a
// 16-bit type, two values a 4-byte store (dst then 4-byte aligned).
template <typename D, int NO>
__device__ void store(D* dst, size_t ld, const float (&acc)[NO][4], float factor, const Shape& s,
                      int b, int h, int first) {
  const int g = threadIdx.x % 32 / 4, q = threadIdx.x % 4;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int t = first + g + 8 * half;
    if (t >= s.T) continue;
    D* row = dst + (size_t(b) * s.T + t) * ld + h * 8 * NO;
#pragma unroll
    for (int n = 0; n < NO; ++n) {
      const float x0 = factor * acc[n][2 * half], x1 = factor * acc[n][2 * half + 1];
      if constexpr (std::is_same_v<D, float>) {
        row[8 * n + 2 * q] = x0;
        row[8 * n + 2 * q + 1] = x1;
      } else {
        *reinterpret_cast<uint32_t*>(row + 8 * n + 2 * q) = Half16<D>::pack(x0, x1);
      }
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

// The forward's steps for one warp's 16 query rows (rows row[0], row[1] of this lane)
// against one key tile from j0: the causal mask (keys past a row), the online softmax in
// base 2 (m and l: the rows' running maximum and sum; o rescaled), and the dropout of the
// probabilities P V takes (the sums above keep every probability).
__device__ inline void mask_future(float (&sc)[8][4], int j0, const int (&row)[2]) {
  const int lq = threadIdx.x % 4;
#pragma unroll
  for (int n = 0; n < 8; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      if (j0 + 8 * n + 2 * lq + e % 2 > row[e / 2]) sc[n][e] = -INFINITY;
}

// 2^x for x <= 0 on the FMA pipe instead of the special-function unit (FlashAttention-4's
// move on Blackwell): round(x) by the 1.5 * 2^23 trick, a degree-5 polynomial of the rest
// (in [-0.5, 0.5]; coefficients fitted to relative error, at most 2.3e-7 in fp32, about
// ex2.approx's 2^-22), and round(x) added to the exponent's bits. x below -126 gives
// 2^-126 where ex2 flushes to 0: a difference of 1e-38 in a probability.
__device__ inline float exp2_poly(float x) {
  x = fmaxf(x, -126.0f);
  const float t = x + 12582912.0f;  // t's low mantissa bits hold round(x)
  const float f = x - (t - 12582912.0f);
  float p = 0.001327646430581808f;
  p = fmaf(p, f, 0.009675540961325169f);
  p = fmaf(p, f, 0.05550713464617729f);
  p = fmaf(p, f, 0.24022120237350464f);
  p = fmaf(p, f, 0.6931469440460205f);
  p = fmaf(p, f, 1.0000001192092896f);
  int32_t p_bits, t_bits;
  memcpy(&p_bits, &p, 4);
  memcpy(&t_bits, &t, 4);
  p_bits += (t_bits - 0x4B400000) * (1 << 23);  // round(x) into the exponent
  float r;
  memcpy(&r, &p_bits, 4);
  return r;
}

// sc holds q . k; m is in those units, l in the probabilities'. Every row sees key j0 <=
// its own, so m stays finite. kPolyBlocks: the first that many 8-column blocks take their
// exponentials from exp2_poly, the rest from ex2 (at head size 64 an ex2 a score keeps
// the special-function unit, 16 a clock a multiprocessor, as busy as the tensor cores;
// the FMA pipe has room for about a quarter of them).
template <int kPolyBlocks = 0, int NO>
__device__ void online_softmax(float (&sc)[8][4], float (&o)[NO][4], float (&m)[2], float (&l)[2],
                               float c) {
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float mx = -INFINITY;
#pragma unroll
    for (int n = 0; n < 8; ++n)
#pragma unroll
      for (int e = 0; e < 2; ++e) mx = fmaxf(mx, sc[n][2 * half + e]);
    const float m_new = fmaxf(m[half], group_max(mx));
    const float correction = exp2f((m[half] - m_new) * c), mc = m_new * c;
    float sum = 0.0f;
#pragma unroll
    for (int n = 0; n < 8; ++n)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        float& x = sc[n][2 * half + e];
        x = n < kPolyBlocks ? exp2_poly(fmaf(x, c, -mc)) : exp2f(fmaf(x, c, -mc));
        sum += x;
      }
#pragma unroll
    for (int n = 0; n < NO; ++n)
#pragma unroll
      for (int e = 0; e < 2; ++e) o[n][2 * half + e] *= correction;
    l[half] = l[half] * correction + group_sum(sum);
    m[half] = m_new;
  }
}

__device__ inline void drop_probabilities(float (&sc)[8][4], const Shape& s, int b, int h, int j0,
                                          const int (&row)[2]) {
  const int lq = threadIdx.x % 4;
#pragma unroll
  for (int n = 0; n < 8; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) sc[n][e] *= keep(s, b, h, row[e / 2], j0 + 8 * n + 2 * lq + e % 2);
}

// out = o / l for the warp's 16 rows from `first` (out null: not stored; and where out16
// is given, the same values rounded to 16 bits there: the copy the next GEMM reads), and
// each row's log-sum-exp into lse, in the base-2 softmax's units (the backward's).
template <typename E, int NO>
__device__ void finish_forward(float* out, E* out16, float* lse, float (&o)[NO][4],
                               const float (&m)[2], const float (&l)[2], const Shape& s, int b,
                               int h, const int (&row)[2], int first) {
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const float inv = 1.0f / l[half];
#pragma unroll
    for (int n = 0; n < NO; ++n) {
      o[n][2 * half] *= inv;
      o[n][2 * half + 1] *= inv;
    }
    if (threadIdx.x % 4 == 0 && row[half] < s.T)
      lse[(size_t(b) * s.NH + h) * s.T + row[half]] = fmaf(m[half], s.score2, log2f(l[half]));
  }
  if (out) store(out, size_t(s.C), o, 1.0f, s, b, h, first);
  if (out16) store(out16, size_t(s.C), o, 1.0f, s, b, h, first);
}

// Starts copying key tile `it` (K and V, rows it * 64 ...) into pair `it % 2` of kv.
template <int HS, typename E>
__device__ void load_kv(E* kv, const E* k, const E* v, const Shape& s, int b, int h, int it) {
  E* pair = kv + (it % 2) * 2 * kTileElemsOf<HS>;
  load_tile<HS>(pair, k, s.ld, s, b, h, it * kTile);
  load_tile<HS>(pair + kTileElemsOf<HS>, v, s.ld, s, b, h, it * kTile);
}

// Key tile `it` of a block's walk over `tiles` of them: starts copying tile it + 1 into
// the other (K, V) pair of kv (whose readers finished at the last barrier), waits for
// tile it (and whatever was committed before it), and returns its K; its V follows.
template <int HS, typename E>
__device__ const E* next_kv(E* kv, const E* k, const E* v, const Shape& s, int b, int h, int it,
                            int tiles) {
  if (it + 1 < tiles) load_kv<HS>(kv, k, v, s, b, h, it + 1);
  cp_async_commit();
  cp_async_wait<1>();  // all but the group just started
  __syncthreads();
  return kv + (it % 2) * 2 * kTileElemsOf<HS>;
}

// Forward: block per (b * NH + h, query tile), the last query tiles (most keys) first.
template <int HS, typename E, bool kDropout>
__global__ void __launch_bounds__(kThreads)
    tc_forward(float* out, E* out16, float* lse, const E* q, const E* k, const E* v, Shape s) {
  constexpr int kElems = kTileElemsOf<HS>;
  COHORT_DYNAMIC_SHARED(smem);
  E* qs = reinterpret_cast<E*>(smem);
  E* kv = qs + kElems;  // two (K, V) tile pairs: the one in use, the next arriving
  const int b = blockIdx.x / s.NH, h = blockIdx.x % s.NH;
  const int t0 = (gridDim.y - 1 - blockIdx.y) * kTile;
  const int r0 = threadIdx.x / 32 * 16, g = threadIdx.x % 32 / 4;
  const int row[2] = {t0 + r0 + g, t0 + r0 + g + 8};  // this lane's two query rows
  load_tile<HS>(qs, q, s.ld, s, b, h, t0);
  load_kv<HS>(kv, k, v, s, b, h, 0);
  cp_async_commit();
  uint32_t qa[HS / 16][4];
  float o[HS / 8][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  zero(o);
  const int tiles = t0 / kTile + 1;  // key tiles 0 .. t0 (t0 < T)
  for (int it = 0; it < tiles; ++it) {
    const int j0 = it * kTile;
    const E* ks = next_kv<HS>(kv, k, v, s, b, h, it, tiles);  // this tile (and Q) ready
    const E* vs = ks + kElems;
    if (it == 0) load_a(qa, qs, r0);
    float sc[8][4];
    zero(sc);
    product<E>(sc, qa, ks);
    // Only the diagonal tile holds keys past a row (and past T): the others skip the mask.
    if (j0 == t0) mask_future(sc, j0, row);
    online_softmax(sc, o, m, l, s.score2);
    if constexpr (kDropout) drop_probabilities(sc, s, b, h, j0, row);
    uint32_t pa[4][4];
    as_a<E>(pa, sc);
    product_t<E>(o, pa, vs);
    __syncthreads();  // this pair's readers are done before it is refilled
  }
  finish_forward(out, out16, lse, o, m, l, s, b, h, row, t0 + r0);
}

// The forward with 128 query rows a block: each warp takes two slices of 16 rows, 64
// apart, and every K or V fragment it loads from shared memory feeds both slices' products
// (FlashAttention-2's forward gives a warp 32 rows too). Per product that halves the
// shared-memory reads, which ncu found the forward limited by before ldmatrix, and gives
// each warp two independent chains of products. Each slice computes exactly what
// tc_forward computes for its rows, in the same order: the same bits. The last key tile
// is slice 1's diagonal, which slice 0 skips. ptxas (sm_90): 253 registers, no spills, so
// two blocks a multiprocessor (tc_forward: 135, three); with dropout it spilled 384
// bytes, so dropout keeps tc_forward. Asking for three blocks gave 168 registers and 92
// bytes of spills.
template <typename E, bool kDropout>
__global__ void __launch_bounds__(kThreads, 2)
    tc_forward_wide(float* out, E* out16, float* lse, const E* q, const E* k, const E* v, Shape s) {
  COHORT_DYNAMIC_SHARED(smem);
  E* qs = reinterpret_cast<E*>(smem);  // 128 query rows: two tiles
  E* kv = qs + 2 * kTileElems;
  const int b = blockIdx.x / s.NH, h = blockIdx.x % s.NH;
  const int t0 = (gridDim.y - 1 - blockIdx.y) * 2 * kTile;
  const int r0 = threadIdx.x / 32 * 16, g = threadIdx.x % 32 / 4;
  const int row[2][2] = {{t0 + r0 + g, t0 + r0 + g + 8},
                         {t0 + kTile + r0 + g, t0 + kTile + r0 + g + 8}};
  load_tile<kHS>(qs, q, s.ld, s, b, h, t0);
  load_tile<kHS>(qs + kTileElems, q, s.ld, s, b, h, t0 + kTile);
  load_kv<kHS>(kv, k, v, s, b, h, 0);
  cp_async_commit();
  uint32_t qa[2][4][4];
  float o[2][8][4], m[2][2] = {{-INFINITY, -INFINITY}, {-INFINITY, -INFINITY}},
                    l[2][2] = {{0.0f, 0.0f}, {0.0f, 0.0f}};
  zero(o[0]);
  zero(o[1]);
  // Key tiles 0 .. t0 for slice 0, and t0 + 64 for slice 1 where it holds rows < T.
  const int tiles = t0 / kTile + (t0 + kTile < s.T ? 2 : 1);
  for (int it = 0; it < tiles; ++it) {
    const int j0 = it * kTile;
    const E* ks = next_kv<kHS>(kv, k, v, s, b, h, it, tiles);
    const E* vs = ks + kTileElems;
    if (it == 0) {
      load_a(qa[0], qs, r0);
      load_a(qa[1], qs + kTileElems, r0);
    }
    float sc[2][8][4];
    if (j0 <= t0) {  // both slices
      zero(sc[0]);
      zero(sc[1]);
      product2<E>(sc[0], sc[1], qa[0], qa[1], ks);
      if (j0 == t0) mask_future(sc[0], j0, row[0]);
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        online_softmax(sc[i], o[i], m[i], l[i], s.score2);
        if constexpr (kDropout) drop_probabilities(sc[i], s, b, h, j0, row[i]);
      }
      uint32_t pa[2][4][4];
      as_a<E>(pa[0], sc[0]);
      as_a<E>(pa[1], sc[1]);
      product_t2<E>(o[0], o[1], pa[0], pa[1], vs);
    } else {  // slice 1's diagonal tile
      zero(sc[1]);
      product<E>(sc[1], qa[1], ks);
      mask_future(sc[1], j0, row[1]);
      online_softmax(sc[1], o[1], m[1], l[1], s.score2);
      if constexpr (kDropout) drop_probabilities(sc[1], s, b, h, j0, row[1]);
      uint32_t pa[4][4];
      as_a<E>(pa, sc[1]);
      product_t<E>(o[1], pa, vs);
    }
    __syncthreads();
  }
  finish_forward(out, out16, lse, o[0], m[0], l[0], s, b, h, row[0], t0 + r0);
  if (t0 + kTile < s.T)
    finish_forward(out, out16, lse, o[1], m[1], l[1], s, b, h, row[1], t0 + kTile + r0);
}

// The forward (64 query rows a block, no dropout) software-pipelined across key tiles, as
// FlashAttention-3 overlaps one tile's softmax with the next tile's scores: while the
// softmax of tile it runs on the special-function unit (an ex2 a score: at head size 64 as
// much of the multiprocessor's time as the products' tensor-core work) and the FMA pipe,
// the tensor cores compute tile it + 1's scores, which depend on nothing the softmax
// writes. That needs tile it + 1's K while tile it's V is still being read, so (K, V) tiles
// rotate through three stages instead of two: the copy into a stage starts after the
// barrier that ends the last reads of its previous tile. The diagonal tile, the only one
// with masked keys, is the last and runs after the loop. Each row takes the same products
// and the same softmax steps in the same order as in tc_forward: the same bits. ptxas
// (sm_90): 167 registers (the next tile's scores: 32 more than tc_forward's 135), no
// spills, so three blocks a multiprocessor still, each with 63 KB of shared memory. (The
// dQ kernel pipelined the same way, its next S and dP beside this tile's dS K, took 255
// registers with a spill: two blocks instead of three. It already has two independent
// products, S and dP, before its exponentials, so it was left as it is.) kPolyBlocks > 0:
// the tiles before the diagonal take that many of their eight column blocks'
// exponentials from exp2_poly (online_softmax), which gives other bits than ex2: within
// 2.3e-7 of each probability.
template <typename E, int kPolyBlocks = 0>
__global__ void __launch_bounds__(kThreads, 3)
    tc_forward_pipelined(float* out, E* out16, float* lse, const E* q, const E* k, const E* v,
                         Shape s) {
  COHORT_DYNAMIC_SHARED(smem);
  E* qs = reinterpret_cast<E*>(smem);
  E* stages = qs + kTileElems;  // three (K, V) tile pairs
  const int b = blockIdx.x / s.NH, h = blockIdx.x % s.NH;
  auto stage = [&](int it) { return stages + (it % 3) * 2 * kTileElems; };
  auto start_kv = [&](int it) {
    load_tile<kHS>(stage(it), k, s.ld, s, b, h, it * kTile);
    load_tile<kHS>(stage(it) + kTileElems, v, s.ld, s, b, h, it * kTile);
  };
  const int t0 = (gridDim.y - 1 - blockIdx.y) * kTile;
  const int r0 = threadIdx.x / 32 * 16, g = threadIdx.x % 32 / 4;
  const int row[2] = {t0 + r0 + g, t0 + r0 + g + 8};
  const int tiles = t0 / kTile + 1;  // key tiles 0 .. t0; the last is the diagonal
  load_tile<kHS>(qs, q, s.ld, s, b, h, t0);
  start_kv(0);
  cp_async_commit();
  if (tiles > 1) start_kv(1);
  cp_async_commit();
  cp_async_wait<1>();  // Q and tile 0
  __syncthreads();
  uint32_t qa[4][4];
  load_a(qa, qs, r0);
  float o[8][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  zero(o);
  float sc[8][4];
  zero(sc);
  product<E>(sc, qa, stage(0));
  for (int it = 0; it + 1 < tiles; ++it) {
    if (it + 2 < tiles) start_kv(it + 2);  // into tile it - 1's stage, read before the barrier
    cp_async_commit();
    cp_async_wait<1>();  // tile it + 1
    __syncthreads();
    float next[8][4];
    zero(next);
    product<E>(next, qa, stage(it + 1));
    online_softmax<kPolyBlocks>(sc, o, m, l, s.score2);
    uint32_t pa[4][4];
    as_a<E>(pa, sc);
    product_t<E>(o, pa, stage(it) + kTileElems);
#pragma unroll
    for (int n = 0; n < 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) sc[n][e] = next[n][e];
    __syncthreads();  // tile it's readers are done before its stage is refilled
  }
  mask_future(sc, t0, row);
  online_softmax(sc, o, m, l, s.score2);
  uint32_t pa[4][4];
  as_a<E>(pa, sc);
  product_t<E>(o, pa, stage(tiles - 1) + kTileElems);
  finish_forward(out, out16, lse, o, m, l, s, b, h, row, t0 + r0);
}

// dQ = scale * dS K, dS = P * (dP - D), dP = dO V^T: block per (b * NH + h, query tile),
// the last query tiles first. D: dQ's type, float or E (rounded as it is stored). Q's
// and dO's fragments are loaded again each key tile: held across the loop (32 registers)
// they took ptxas (sm_90) to 168 registers with a 40-byte spill at three blocks a
// multiprocessor (166 and none now).
template <int HS, typename E, bool kDropout, typename D = float>
__global__ void __launch_bounds__(kThreads)
    tc_backward_dq(D* dq, const E* dout, const E* q, const E* k, const E* v, const float* lse,
                   const float* dsum, Shape s) {
  constexpr int kElems = kTileElemsOf<HS>;
  COHORT_DYNAMIC_SHARED(smem);
  E* qs = reinterpret_cast<E*>(smem);
  E* dos = qs + kElems;
  E* kv = dos + kElems;  // two (K, V) tile pairs, as in the forward
  const int b = blockIdx.x / s.NH, h = blockIdx.x % s.NH;
  const int t0 = (gridDim.y - 1 - blockIdx.y) * kTile;
  const int r0 = threadIdx.x / 32 * 16, g = threadIdx.x % 32 / 4, lq = threadIdx.x % 4;
  const int row[2] = {t0 + r0 + g, t0 + r0 + g + 8};
  float row_lse[2], row_d[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const size_t i = (size_t(b) * s.NH + h) * s.T + row[half];
    row_lse[half] = row[half] < s.T ? lse[i] : 0.0f;
    row_d[half] = row[half] < s.T ? dsum[i] : 0.0f;
  }
  load_tile<HS>(qs, q, s.ld, s, b, h, t0);
  load_tile<HS>(dos, dout, size_t(s.C), s, b, h, t0);
  load_kv<HS>(kv, k, v, s, b, h, 0);
  cp_async_commit();
  float acc[HS / 8][4];
  zero(acc);
  const int tiles = t0 / kTile + 1;
  for (int it = 0; it < tiles; ++it) {
    const int j0 = it * kTile;
    const E* ks = next_kv<HS>(kv, k, v, s, b, h, it, tiles);
    const E* vs = ks + kElems;
    float sc[8][4], dp[8][4];
    rows_times<HS>(sc, qs, r0, ks);
    rows_times<HS>(dp, dos, r0, vs);
#pragma unroll
    for (int n = 0; n < 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) sc[n][e] = exp2f(fmaf(sc[n][e], s.score2, -row_lse[e / 2]));  // P
    if (j0 == t0) {  // the diagonal tile: keys past the row
#pragma unroll
      for (int n = 0; n < 8; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (j0 + 8 * n + 2 * lq + e % 2 > row[e / 2]) sc[n][e] = 0.0f;
    }
    if constexpr (kDropout) {  // dP of the kept probabilities only
#pragma unroll
      for (int n = 0; n < 8; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          dp[n][e] *= keep(s, b, h, row[e / 2], j0 + 8 * n + 2 * lq + e % 2);
    }
#pragma unroll
    for (int n = 0; n < 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) sc[n][e] *= dp[n][e] - row_d[e / 2];  // dS
    uint32_t da[4][4];
    as_a<E>(da, sc);
    product_t<E>(acc, da, ks);
    __syncthreads();
  }
  store(dq, s.ld, acc, s.scale, s, b, h, t0 + r0);
}

// dV = P^T dO and dK = dS^T (scale q): block per (b * NH + h, key tile), the first key
// tiles (most queries) first, each warp 16 keys, walking the query tiles from the key
// tile's own to the last. kParts: each query tile in parts of 64 / kParts queries, one
// after another. One part takes 242 registers (ptxas, sm_90), so two blocks a
// multiprocessor; two parts hold half as many scores (S^T and dP^T: 32 registers instead
// of 64) and fit three blocks in 168 registers without spills, for K's and V's fragments
// loaded twice a tile (80 ldmatrix instead of 72). Each of dK's and dV's products still
// takes its 16-query chunks in order, so the bits are those of one part. D: dK's and dV's
// type, float or E (rounded as they are stored). At head size 32 the accumulators are half
// as many, and the same bounds hold. At 128, dK's and dV's accumulators alone take 128
// registers: the bound asks for one block a multiprocessor, which lets ptxas use 255
// registers rather than spill; 128 threads of 255 (256 as allocated) and 105 KB of shared
// memory still fit two blocks.
constexpr int dkv_blocks_per_multiprocessor(int hs, int parts) {
  return hs > 64 ? 1 : parts == 1 ? 2 : 3;
}
template <int HS, typename E, bool kDropout, int kParts = 1, typename D = float>
__global__ void __launch_bounds__(kThreads, dkv_blocks_per_multiprocessor(HS, kParts))
    tc_backward_dkv(D* dk, D* dv, const E* dout, const E* q, const E* k, const E* v,
                    const float* lse, const float* dsum, Shape s) {
  constexpr int kQueries = kTile / kParts, kBlocks = kQueries / 8, kChunks = kQueries / 16;
  constexpr int kElems = kTileElemsOf<HS>;
  COHORT_DYNAMIC_SHARED(smem);
  E* ks = reinterpret_cast<E*>(smem);
  E* vs = ks + kElems;
  // Two query stages, the one in use and the next arriving: Q, dO, lse and D of 64 rows.
  constexpr int kStage = 2 * kElems + 2 * kTile * int(sizeof(float)) / 2;  // in E
  E* stages = vs + kElems;
  const int b = blockIdx.x / s.NH, h = blockIdx.x % s.NH;
  const int j0 = blockIdx.y * kTile;
  const int r0 = threadIdx.x / 32 * 16, g = threadIdx.x % 32 / 4, lq = threadIdx.x % 4;
  const int key[2] = {j0 + r0 + g, j0 + r0 + g + 8};  // this lane's two key rows
  auto load_stage = [&](int stage, int i0) {
    E* base = stages + stage * kStage;
    float* values = reinterpret_cast<float*>(base + 2 * kElems);
    load_tile<HS>(base, q, s.ld, s, b, h, i0);
    load_tile<HS>(base + kElems, dout, size_t(s.C), s, b, h, i0);
    load_row_values(values, lse, s, b, h, i0);
    load_row_values(values + kTile, dsum, s, b, h, i0);
  };
  load_tile<HS>(ks, k, s.ld, s, b, h, j0);
  load_tile<HS>(vs, v, s.ld, s, b, h, j0);
  load_stage(0, j0);
  cp_async_commit();
  float gk[HS / 8][4], gv[HS / 8][4];
  zero(gk);
  zero(gv);
  const int tiles = (s.T - j0 + kTile - 1) / kTile;  // query tiles j0 .. T - 1
  for (int it = 0; it < tiles; ++it) {
    const int i0 = j0 + it * kTile;
    if (it + 1 < tiles) load_stage((it + 1) % 2, i0 + kTile);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    const E* stage = stages + (it % 2) * kStage;
    const float* stage_lse = reinterpret_cast<const float*>(stage + 2 * kElems);
#pragma unroll
    for (int part = 0; part < kParts; ++part) {
      const int p0 = part * kQueries;  // the part's first query in the tile
      const E* qs = stage + p0 * kLdOf<HS>;
      const E* dos = stage + kElems + p0 * kLdOf<HS>;
      const float* tile_lse = stage_lse + p0;
      const float* tile_d = stage_lse + kTile + p0;
      float st[kBlocks][4], dpt[kBlocks][4];  // S^T and dP^T: rows keys, columns queries
      rows_times<HS, E, kBlocks>(st, ks, r0, qs);
      rows_times<HS, E, kBlocks>(dpt, vs, r0, dos);
#pragma unroll
      for (int n = 0; n < kBlocks; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e)  // P^T
          st[n][e] = exp2f(fmaf(st[n][e], s.score2, -tile_lse[8 * n + 2 * lq + e % 2]));
      // Queries before a key appear only in the diagonal tile, past T only in the last.
      if (i0 == j0 || i0 + kTile > s.T) {
#pragma unroll
        for (int n = 0; n < kBlocks; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int t = i0 + p0 + 8 * n + 2 * lq + e % 2;
            if (t < key[e / 2] || t >= s.T) st[n][e] = 0.0f;
          }
      }
      if constexpr (kDropout) {  // dP^T of the kept probabilities; P^T dO with the kept ones
#pragma unroll
        for (int n = 0; n < kBlocks; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const float k = keep(s, b, h, i0 + p0 + 8 * n + 2 * lq + e % 2, key[e / 2]);
            dpt[n][e] = st[n][e] * (dpt[n][e] * k - tile_d[8 * n + 2 * lq + e % 2]);  // dS^T
            st[n][e] *= k;
          }
      } else {
#pragma unroll
        for (int n = 0; n < kBlocks; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            dpt[n][e] = st[n][e] * (dpt[n][e] - tile_d[8 * n + 2 * lq + e % 2]);  // dS^T
      }
      uint32_t a[kChunks][4];
      as_a<E, kChunks>(a, st);
      product_t<E, kChunks>(gv, a, dos);
      as_a<E, kChunks>(a, dpt);
      product_t<E, kChunks>(gk, a, qs);
    }
    __syncthreads();
  }
  store(dk, s.ld, gk, s.scale, s, b, h, j0 + r0);
  store(dv, s.ld, gv, 1.0f, s, b, h, j0 + r0);
}

// dst (n values, 16-bit) = src (fp32) rounded: the kernels' q, k and v, rounded once
// rather than once per tile that loads them (where no GEMM wrote them in 16 bits).
template <typename E>
__global__ void round_rows(E* dst, const float* src, size_t n) {
  const size_t i = (size_t(blockIdx.x) * blockDim.x + threadIdx.x) * 4;
  if (i >= n) return;
  const float4 v = load_float4(src + i);
  dst[i] = round16<E>(v.x);
  dst[i + 1] = round16<E>(v.y);
  dst[i + 2] = round16<E>(v.z);
  dst[i + 3] = round16<E>(v.w);
}

// Four consecutive values as floats: one 16-byte load of fp32, or one 8-byte load of a
// 16-bit type (p 8-byte aligned).
__device__ inline float4 load4(const float* p) { return load_float4(p); }
template <typename E>
__device__ inline float4 load4(const E* p) {
  const Four16<E> f = *reinterpret_cast<const Four16<E>*>(p);
  return make_float4(float(f.v[0]), float(f.v[1]), float(f.v[2]), float(f.v[3]));
}

// The backward's prologue, a block per row (b, t) and a thread per four channels (C / 4
// rounded up to whole warps): D = rowsum(dO * O) of each head, its HS channels summed by
// HS / 4 threads (8, 16 or 32 lanes of a warp) in a fixed tree; with T = float, dO and O
// in fp32, dO rounded into dout16 as well; with T = E, both already in 16 bits (dout16
// unused; the GEMM before wrote dO so). One coalesced pass over dO and O instead of a
// rounding copy and a thread per (row, head) walking HS strided values.
template <int HS, typename E, typename T>
__global__ void prepare_dout(E* dout16, float* dsum, const T* dout, const T* out, Shape s) {
  constexpr int kLanes = HS / 4;
  const int row = blockIdx.x, b = row / s.T, t = row % s.T;
  const int c = 4 * int(threadIdx.x);
  const bool valid = c < s.C;
  float p = 0.0f;
  if (valid) {
    const size_t i = size_t(row) * s.C + c;
    const float4 d = load4(dout + i);
    const float4 o = load4(out + i);
    if constexpr (std::is_same_v<T, float>)
      *reinterpret_cast<Four16<E>*>(dout16 + i) =
          Four16<E>{{round16<E>(d.x), round16<E>(d.y), round16<E>(d.z), round16<E>(d.w)}};
    p = d.x * o.x + d.y * o.y + d.z * o.z + d.w * o.w;
  }
  // Over the head's kLanes lanes, in a fixed tree.
  for (int o = kLanes / 2; o > 0; o >>= 1) p += __shfl_xor_sync(kFull, p, o);
  if (valid && threadIdx.x % kLanes == 0) dsum[(size_t(b) * s.NH + c / HS) * s.T + t] = p;
}

// AttentionForward::pipelined_poly's column blocks by exp2_poly, of eight: a quarter, about
// where the FMA pipe's work a score (4.5 instructions, 9 more for a polynomial) meets the
// special-function unit's (an ex2, at an eighth of the FMA pipe's rate): 6.75 and 6 warp
// cycles a warp's 32 scores, against 4.5 and 8 with ex2 alone.
constexpr int kPolyExpBlocks = 2;

// Each kernel's dynamic shared memory, in bytes (at head size 128: 87, 104 and 105 KB).
template <int HS>
constexpr size_t kTileBytesOf = size_t(kTileElemsOf<HS>) * 2;
template <int HS>
constexpr size_t kForwardSharedOf = 5 * kTileBytesOf<HS>;  // Q; K, V twice
template <int HS>
constexpr size_t kDqSharedOf = 6 * kTileBytesOf<HS>;  // Q, dO; K, V twice
template <int HS>
constexpr size_t kDkvSharedOf = 6 * kTileBytesOf<HS> +
                                4 * kTile * sizeof(float);  // K, V; Q, dO, lse, D twice
constexpr size_t kTileBytes = kTileBytesOf<kHS>;
constexpr size_t kWideForwardShared = 6 * kTileBytes;       // Q's 128 rows; K, V twice
constexpr size_t kForwardPipelinedShared = 7 * kTileBytes;  // Q; K, V three times

}  // namespace cohort::cuda::tc_attention
