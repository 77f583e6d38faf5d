// Causal attention on tensor cores for the 16-bit precisions: FlashAttention-2's
// algorithm (Dao 2023) on WMMA 16x16x16 tiles with fp32 accumulation. q (pre-scaled by
// 1/sqrt(HS)), k, v and dO are rounded to the 16-bit type once, into scratch, before the
// kernels; P (for P V and P^T dO) and dS (for dS K and dS^T Q) are rounded in shared
// memory, as in FlashAttention-2; softmax statistics, D = rowsum(dO * O), outputs and gradients stay
// fp32. On the GPU this is 30x the fp32 kernels of cuda_flash_attention.cu, which keep
// the fp32 precision, other head sizes and attention dropout.
//
// Block: 64 query (or key) rows, four warps of 16 rows each. A warp's WMMA results go
// through its own rows of a shared fp32 tile, because WMMA's register layout is opaque:
// that is how the online softmax reads its scores and rescales the output. Deterministic
// without atomics: dQ and (dK, dV) are separate kernels, each owning its output rows and
// walking its partners in order.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_flash_attention_tc.h"

namespace cohort::cuda {

namespace {

using namespace nvcuda;

constexpr int kHS = 64, kTile = 64, kThreads = 128;
constexpr int kLd16 = kHS + 8;     // 16-bit tile rows, padded against bank conflicts
constexpr int kLd32 = kTile + 4;   // fp32 tile rows, likewise (WMMA wants a multiple of 4)
constexpr int kTile16 = kTile * kLd16;  // elements of one 16-bit tile
constexpr int kTile32 = kTile * kLd32;  // elements of one fp32 tile
constexpr unsigned kFull = 0xffffffffu;

template <typename E>
__device__ E to16(float x);
template <>
__device__ __nv_bfloat16 to16(float x) {
  return __float2bfloat16_rn(x);
}
template <>
__device__ __half to16(float x) {
  return __float2half_rn(x);
}

template <typename E>
using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, E, wmma::row_major>;
template <typename E, typename Layout>
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 16, E, Layout>;
using Acc = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

struct Shape {
  int B, T, C, NH;
  size_t ld;  // row stride of q, k, v, dq, dk, dv: 3C
  float scale;
};

// Rows [first, first + 64) of head h of x (16-bit, row stride ld) into tile, 16 bytes a
// copy; rows at or past T become 0. Every thread of the block calls it.
template <typename E>
__device__ void load_tile(E* tile, const E* x, size_t ld, const Shape& s, int b, int h,
                          int first) {
  constexpr int kChunks = kHS * int(sizeof(E)) / 16;  // 16-byte chunks per row
  for (int e = threadIdx.x; e < kTile * kChunks; e += kThreads) {
    const int r = e / kChunks, chunk = e % kChunks, t = first + r;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (t < s.T)
      v = reinterpret_cast<const uint4*>(x + (size_t(b) * s.T + t) * ld + h * kHS)[chunk];
    reinterpret_cast<uint4*>(tile + r * kLd16)[chunk] = v;
  }
}

// dst (rows x width, 16-bit) = src (fp32) rounded, the first `scaled` columns of each
// row times scale (q's 1/sqrt(HS)): the kernels' inputs, rounded once rather than once
// per tile that loads them.
template <typename E>
__global__ void round_rows(E* dst, const float* src, size_t n, int width, int scaled,
                           float scale) {
  const size_t i = (size_t(blockIdx.x) * blockDim.x + threadIdx.x) * 4;
  if (i >= n) return;
  const float4 v = *reinterpret_cast<const float4*>(src + i);
  const float f = int(i % width) < scaled ? scale : 1.0f;  // width and scaled are 4k
  dst[i] = to16<E>(f * v.x);
  dst[i + 1] = to16<E>(f * v.y);
  dst[i + 2] = to16<E>(f * v.z);
  dst[i + 3] = to16<E>(f * v.w);
}

// A warp's 16 rows (x 64) of a 16-bit tile as the four A fragments of a product.
template <typename E>
__device__ void load_rows(FragA<E> (&a)[4], const E* rows) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) wmma::load_matrix_sync(a[kk], rows + kk * 16, kLd16);
}

// out (16 x 64, fp32, row stride kLd32) = a (16 x 64) . B, where B (64 x 64) is `b` read
// as Layout: col_major for the transpose of a row-major tile. One warp.
template <typename E, typename Layout>
__device__ void warp_product(float* out, const FragA<E> (&a)[4], const E* b) {
#pragma unroll
  for (int n = 0; n < 4; ++n) {
    Acc acc;
    wmma::fill_fragment(acc, 0.0f);
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      FragB<E, Layout> fb;
      const E* bp = std::is_same_v<Layout, wmma::col_major> ? b + n * 16 * kLd16 + kk * 16
                                                             : b + kk * 16 * kLd16 + n * 16;
      wmma::load_matrix_sync(fb, bp, kLd16);
      wmma::mma_sync(acc, a[kk], fb, acc);
    }
    wmma::store_matrix_sync(out + n * 16, acc, kLd32, wmma::mem_row_major);
  }
}

// acc[n] += a (16 x 64, shared) . b (64 x 64 row-major), n over the 16-column blocks.
template <typename E>
__device__ void warp_accumulate(Acc (&acc)[4], const E* a, const E* b) {
  FragA<E> fa[4];
  load_rows(fa, a);
#pragma unroll
  for (int n = 0; n < 4; ++n)
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      FragB<E, wmma::row_major> fb;
      wmma::load_matrix_sync(fb, b + kk * 16 * kLd16 + n * 16, kLd16);
      wmma::mma_sync(acc[n], fa[kk], fb, acc[n]);
    }
}

// Stores a warp's four accumulators (16 x 64) times factor, through its rows of the
// shared `stage`, to rows first.. of head h of dst (row stride ld), rows < T only.
__device__ void store_rows(float* dst, size_t ld, Acc (&acc)[4], float factor, float* stage,
                           const Shape& s, int b, int h, int first) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int n = 0; n < 4; ++n) {
    for (int i = 0; i < acc[n].num_elements; ++i) acc[n].x[i] *= factor;
    wmma::store_matrix_sync(stage + n * 16, acc[n], kLd32, wmma::mem_row_major);
  }
  __syncwarp();
  for (int e = lane; e < 16 * kHS; e += 32) {
    const int r = e / kHS, d = e % kHS, t = first + r;
    if (t < s.T) dst[(size_t(b) * s.T + t) * ld + h * kHS + d] = stage[r * kLd32 + d];
  }
}

__device__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFull, v, o));
  return v;
}
__device__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

// The element-wise steps go a row at a time with lane l on columns l and l + 32: every
// shared access of the warp is then 32 consecutive words (no bank conflicts), and the
// row statistics are warp reductions in a fixed tree. (A lane per half row made 4-way
// conflicts, and shared memory was the forward's limit: ncu, L1 89% busy.)

// Forward: block per (query tile, b * NH + h), the last query tiles (most keys) first.
template <typename E>
__global__ void __launch_bounds__(kThreads, 3)
    tc_forward(float* out, float* lse, const E* q, const E* k, const E* v, Shape s) {
  extern __shared__ __align__(128) unsigned char smem[];
  E* qs = reinterpret_cast<E*>(smem);
  E* ks = qs + kTile16;
  E* vs = ks + kTile16;
  E* ps = vs + kTile16;
  float* ss = reinterpret_cast<float*>(ps + kTile16);
  float* os = ss + kTile32;
  const int b = blockIdx.y / s.NH, h = blockIdx.y % s.NH;
  const int t0 = (gridDim.x - 1 - blockIdx.x) * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r0 = warp * 16;
  load_tile(qs, q, s.ld, s, b, h, t0);
  for (int e = lane; e < 16 * kLd32; e += 32) os[r0 * kLd32 + e] = 0.0f;
  __syncthreads();
  FragA<E> qf[4];
  load_rows(qf, qs + r0 * kLd16);
  float m[16], l[16];  // per row of the warp; every lane holds all 16
#pragma unroll
  for (int i = 0; i < 16; ++i) m[i] = -INFINITY, l[i] = 0.0f;
  for (int j0 = 0; j0 <= t0 && j0 < s.T; j0 += kTile) {
    __syncthreads();  // the previous tile's readers are done
    load_tile(ks, k, s.ld, s, b, h, j0);
    load_tile(vs, v, s.ld, s, b, h, j0);
    __syncthreads();
    warp_product<E, wmma::col_major>(ss + r0 * kLd32, qf, ks);
    __syncwarp();
    // Online softmax; every row sees key j0 <= t, so m stays finite.
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int t = t0 + r0 + i;
      const float* srow = ss + (r0 + i) * kLd32;
      const float x0 = j0 + lane <= t ? srow[lane] : -INFINITY;
      const float x1 = j0 + lane + 32 <= t ? srow[lane + 32] : -INFINITY;
      const float m_new = fmaxf(m[i], warp_max(fmaxf(x0, x1)));
      const float correction = expf(m[i] - m_new);
      const float p0 = expf(x0 - m_new), p1 = expf(x1 - m_new);
      l[i] = l[i] * correction + warp_sum(p0 + p1);
      m[i] = m_new;
      E* prow = ps + (r0 + i) * kLd16;
      prow[lane] = to16<E>(p0);
      prow[lane + 32] = to16<E>(p1);
      float* orow = os + (r0 + i) * kLd32;
      orow[lane] *= correction;
      orow[lane + 32] *= correction;
    }
    __syncwarp();
    // O (this warp's 16 rows) += P V.
    FragA<E> pf[4];
    load_rows(pf, ps + r0 * kLd16);
#pragma unroll
    for (int n = 0; n < 4; ++n) {
      Acc acc;
      float* o = os + r0 * kLd32 + n * 16;
      wmma::load_matrix_sync(acc, o, kLd32, wmma::mem_row_major);
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        FragB<E, wmma::row_major> fb;
        wmma::load_matrix_sync(fb, vs + kk * 16 * kLd16 + n * 16, kLd16);
        wmma::mma_sync(acc, pf[kk], fb, acc);
      }
      wmma::store_matrix_sync(o, acc, kLd32, wmma::mem_row_major);
    }
    __syncwarp();
  }
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const int t = t0 + r0 + i;
    if (t >= s.T) break;
    const float inv = 1.0f / l[i];
    float* dst = out + (size_t(b) * s.T + t) * s.C + h * kHS;
    const float* orow = os + (r0 + i) * kLd32;
    dst[lane] = orow[lane] * inv;
    dst[lane + 32] = orow[lane + 32] * inv;
    if (lane == 0) lse[(size_t(b) * s.NH + h) * s.T + t] = m[i] + logf(l[i]);
  }
}

// dQ = scale * dS K, dS = P * (dP - D), dP = dO V^T: block per (query tile, b * NH + h).
template <typename E>
__global__ void __launch_bounds__(kThreads, 3)
    tc_backward_dq(float* dq, const E* dout, const E* q, const E* k, const E* v, const float* lse,
                   const float* dsum, Shape s) {
  extern __shared__ __align__(128) unsigned char smem[];
  E* qs = reinterpret_cast<E*>(smem);
  E* dos = qs + kTile16;
  E* ks = dos + kTile16;
  E* vs = ks + kTile16;
  E* dss = vs + kTile16;
  float* ss = reinterpret_cast<float*>(dss + kTile16);
  float* dps = ss + kTile32;
  const int b = blockIdx.y / s.NH, h = blockIdx.y % s.NH;
  const int t0 = (gridDim.x - 1 - blockIdx.x) * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r0 = warp * 16;
  float row_lse[16], row_d[16];
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const int t = t0 + r0 + i;
    const size_t row = (size_t(b) * s.NH + h) * s.T + t;
    row_lse[i] = t < s.T ? lse[row] : 0.0f;
    row_d[i] = t < s.T ? dsum[row] : 0.0f;
  }
  load_tile(qs, q, s.ld, s, b, h, t0);
  load_tile(dos, dout, size_t(s.C), s, b, h, t0);
  __syncthreads();
  FragA<E> qf[4], dof[4];
  load_rows(qf, qs + r0 * kLd16);
  load_rows(dof, dos + r0 * kLd16);
  Acc acc[4];
  for (auto& a : acc) wmma::fill_fragment(a, 0.0f);
  for (int j0 = 0; j0 <= t0 && j0 < s.T; j0 += kTile) {
    __syncthreads();
    load_tile(ks, k, s.ld, s, b, h, j0);
    load_tile(vs, v, s.ld, s, b, h, j0);
    __syncthreads();
    warp_product<E, wmma::col_major>(ss + r0 * kLd32, qf, ks);
    warp_product<E, wmma::col_major>(dps + r0 * kLd32, dof, vs);
    __syncwarp();
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int t = t0 + r0 + i;
      const float* srow = ss + (r0 + i) * kLd32;
      const float* dprow = dps + (r0 + i) * kLd32;
      E* dsrow = dss + (r0 + i) * kLd16;
      const float p0 = j0 + lane <= t ? expf(srow[lane] - row_lse[i]) : 0.0f;
      const float p1 = j0 + lane + 32 <= t ? expf(srow[lane + 32] - row_lse[i]) : 0.0f;
      dsrow[lane] = to16<E>(p0 * (dprow[lane] - row_d[i]));
      dsrow[lane + 32] = to16<E>(p1 * (dprow[lane + 32] - row_d[i]));
    }
    __syncwarp();
    warp_accumulate(acc, dss + r0 * kLd16, ks);
  }
  store_rows(dq, s.ld, acc, s.scale, ss + r0 * kLd32, s, b, h, t0 + r0);
}

// dV = P^T dO and dK = dS^T (scale q): block per (key tile, b * NH + h), each warp 16
// keys, walking the query tiles from the key tile's own to the last.
template <typename E>
__global__ void __launch_bounds__(kThreads, 3)
    tc_backward_dkv(float* dk, float* dv, const E* dout, const E* q, const E* k, const E* v,
                    const float* lse, const float* dsum, Shape s) {
  extern __shared__ __align__(128) unsigned char smem[];
  E* ks = reinterpret_cast<E*>(smem);
  E* vs = ks + kTile16;
  E* qs = vs + kTile16;
  E* dos = qs + kTile16;
  E* pts = dos + kTile16;
  E* dsts = pts + kTile16;
  float* sts = reinterpret_cast<float*>(dsts + kTile16);
  float* dpts = sts + kTile32;
  float* tile_lse = dpts + kTile32;
  float* tile_d = tile_lse + kTile;
  const int b = blockIdx.y / s.NH, h = blockIdx.y % s.NH;
  const int j0 = blockIdx.x * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r0 = warp * 16;
  load_tile(ks, k, s.ld, s, b, h, j0);
  load_tile(vs, v, s.ld, s, b, h, j0);
  __syncthreads();
  FragA<E> kf[4], vf[4];
  load_rows(kf, ks + r0 * kLd16);
  load_rows(vf, vs + r0 * kLd16);
  Acc gk[4], gv[4];
  for (auto& a : gk) wmma::fill_fragment(a, 0.0f);
  for (auto& a : gv) wmma::fill_fragment(a, 0.0f);
  for (int i0 = j0; i0 < s.T; i0 += kTile) {
    __syncthreads();
    load_tile(qs, q, s.ld, s, b, h, i0);
    load_tile(dos, dout, size_t(s.C), s, b, h, i0);
    for (int e = threadIdx.x; e < kTile; e += kThreads) {
      const int t = i0 + e;
      const size_t row = (size_t(b) * s.NH + h) * s.T + t;
      tile_lse[e] = t < s.T ? lse[row] : 0.0f;
      tile_d[e] = t < s.T ? dsum[row] : 0.0f;
    }
    __syncthreads();
    warp_product<E, wmma::col_major>(sts + r0 * kLd32, kf, qs);
    warp_product<E, wmma::col_major>(dpts + r0 * kLd32, vf, dos);
    __syncwarp();
    // Row i: key j; lane's columns: queries t0 = i0 + lane and t1 = t0 + 32.
    const int ta = i0 + lane, tb = ta + 32;
    const float lse_a = tile_lse[lane], lse_b = tile_lse[lane + 32];
    const float d_a = tile_d[lane], d_b = tile_d[lane + 32];
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int j = j0 + r0 + i;
      const float* srow = sts + (r0 + i) * kLd32;
      const float* dprow = dpts + (r0 + i) * kLd32;
      const float pa = ta >= j && ta < s.T ? expf(srow[lane] - lse_a) : 0.0f;
      const float pb = tb >= j && tb < s.T ? expf(srow[lane + 32] - lse_b) : 0.0f;
      E* prow = pts + (r0 + i) * kLd16;
      E* dsrow = dsts + (r0 + i) * kLd16;
      prow[lane] = to16<E>(pa);
      prow[lane + 32] = to16<E>(pb);
      dsrow[lane] = to16<E>(pa * (dprow[lane] - d_a));
      dsrow[lane + 32] = to16<E>(pb * (dprow[lane + 32] - d_b));
    }
    __syncwarp();
    warp_accumulate(gv, pts + r0 * kLd16, dos);
    warp_accumulate(gk, dsts + r0 * kLd16, qs);
  }
  float* stage = sts + r0 * kLd32;
  store_rows(dk, s.ld, gk, 1.0f, stage, s, b, h, j0 + r0);
  __syncwarp();
  store_rows(dv, s.ld, gv, 1.0f, stage, s, b, h, j0 + r0);
}

constexpr size_t kForwardShared = 4 * kTile16 * 2 + 2 * kTile32 * 4;
constexpr size_t kDqShared = 5 * kTile16 * 2 + 2 * kTile32 * 4;
constexpr size_t kDkvShared = 6 * kTile16 * 2 + 2 * kTile32 * 4 + 2 * kTile * 4;

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
void forward(float* out, float* lse, const float* qkv, void* scratch, int B, int T, int C,
             int NH) {
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
void backward(float* dqkv, const float* dout, const float* qkv, const float* lse,
              const float* dsum, void* scratch, int B, int T, int C, int NH) {
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

bool tensor_core_attention_fits(int C, int NH, float dropout, const float* qkv,
                                const float* dout) {
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
