// The GPT's causal attention, flash-attention style (Dao et al. 2022, FlashAttention-2's
// backward split): the T x T scores never exist in memory. Forward walks the keys in
// tiles held in shared memory with an online softmax and keeps, per query row, only
// the log-sum-exp (LSE) of its scores; backward recomputes each probability from q, k
// and the LSE. Memory per layer: (B, NH, T) floats instead of (B, NH, T, T).
//
// Deterministic without atomics: forward and dQ give one thread a query row, dK and dV
// one thread a key row; each walks its partners in order. fp32 on CUDA cores, a thread
// per row: simple and exact to a few ulps of the CPU, and slow. The bf16 and fp16
// precisions take cuda_flash_attention_tc.cuh's tensor-core kernels where they fit (head
// size 64, dropout or not); these kernels are the rest.
//
// Dropout: the same Philox numbers as the CPU, element (h, t, t2) numbered
// (h*T + t)*T + t2 of sample sample_offset + b (cpu_attention.cc). With D_i = dO_i . O_i
// (O already holds the dropped-out weights), dS_ij = P_ij (m_ij dO_i . v_j - D_i).
#include <algorithm>
#include <type_traits>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_cudnn_attention.h"
#include "backend/cuda/cuda_dropout.cuh"
#include "backend/cuda/cuda_flash_attention_tc.h"

namespace cohort {

namespace {

struct FlashShape {
  int B, T, C, NH, HS;
  int ld;  // row stride of q, k, v and of dq, dk, dv (3C: the packed qkv)
  float scale;
};

__device__ inline float keep_multiplier(const DropoutKey& key, const FlashShape& s, int b, int h,
                                        int t, int t2) {
  if (key.p <= 0.0f) return 1.0f;
  return cuda::dropout_multiplier(key, key.sample_offset + b,
                                  (uint64_t(h) * s.T + t) * s.T + uint64_t(t2));
}

// Rows per tile: HSMAX floats per row and three or four row tiles in static shared
// memory stay under its 48 KB.
template <int HSMAX>
constexpr int tile_rows() {
  return HSMAX >= 128 ? 16 : HSMAX >= 64 ? 32 : 64;
}

// Copies rows [first, first + Tile) of one head of x (row stride ld, head offset h*HS)
// times factor into tile (Tile x HSMAX); rows past T and columns past HS become 0, so
// the unrolled HSMAX-wide loops never read stale shared memory. Every thread of the
// block calls it.
template <int Tile, int HSMAX>
__device__ void load_tile(float* tile, const float* x, int ld, const FlashShape& s, int b, int h,
                          int first, float factor) {
  for (int e = threadIdx.x; e < Tile * HSMAX; e += blockDim.x) {
    const int r = e / HSMAX, d = e % HSMAX, t = first + r;
    tile[e] = t < s.T && d < s.HS ? factor * x[(size_t(b) * s.T + t) * ld + h * s.HS + d] : 0.0f;
  }
}

// Keys and values [j0, j0 + Tile) of head h into ks and vs, between barriers (the
// previous tile's readers are done; this tile is complete for every thread).
template <int Tile, int HSMAX>
__device__ void load_key_tile(float* ks, float* vs, const float* k, const float* v,
                              const FlashShape& s, int b, int h, int j0) {
  __syncthreads();
  load_tile<Tile, HSMAX>(ks, k, s.ld, s, b, h, j0, 1.0f);
  load_tile<Tile, HSMAX>(vs, v, s.ld, s, b, h, j0, 1.0f);
  __syncthreads();
}

// dst[d] = factor * acc[d] for d < HS: an unrolled loop, so acc stays in registers.
template <int HSMAX>
__device__ void store_row(float* dst, const float (&acc)[HSMAX], float factor, int HS) {
#pragma unroll
  for (int d = 0; d < HSMAX; ++d)
    if (d < HS) dst[d] = factor * acc[d];
}

// Thread per query row t; block per (tile of queries, b * NH + h). q is pre-scaled by
// 1/sqrt(HS), in forward and in both backward kernels alike, so the recomputed scores
// are the forward's bit for bit.
template <int HSMAX>
__global__ void flash_forward(float* out, float* lse, const float* q, const float* k,
                              const float* v, FlashShape s, DropoutKey key) {
  constexpr int Tile = tile_rows<HSMAX>();
  __shared__ float ks[Tile * HSMAX], vs[Tile * HSMAX];
  const int b = blockIdx.y / s.NH, h = blockIdx.y % s.NH;
  const int t0 = blockIdx.x * Tile, t = t0 + threadIdx.x;
  const bool active = t < s.T;
  float qr[HSMAX], acc[HSMAX];
#pragma unroll
  for (int d = 0; d < HSMAX; ++d) {
    qr[d] = active && d < s.HS ? s.scale * q[(size_t(b) * s.T + t) * s.ld + h * s.HS + d] : 0.0f;
    acc[d] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  const int block_keys = min(s.T, t0 + Tile);  // causal: the last row sees the most
  for (int j0 = 0; j0 < block_keys; j0 += Tile) {
    load_key_tile<Tile, HSMAX>(ks, vs, k, v, s, b, h, j0);
    const int visible = active ? min(Tile, t + 1 - j0) : 0;
    for (int r = 0; r < visible; ++r) {
      float sc = 0.0f;
#pragma unroll
      for (int d = 0; d < HSMAX; ++d) sc += qr[d] * ks[r * HSMAX + d];
      if (sc > m) {
        const float correction = expf(m - sc);
        l *= correction;
#pragma unroll
        for (int d = 0; d < HSMAX; ++d) acc[d] *= correction;
        m = sc;
      }
      const float e = expf(sc - m);
      l += e;
      const float w = e * keep_multiplier(key, s, b, h, t, j0 + r);
#pragma unroll
      for (int d = 0; d < HSMAX; ++d) acc[d] += w * vs[r * HSMAX + d];
    }
  }
  if (!active) return;
  store_row(out + (size_t(b) * s.T + t) * s.C + h * s.HS, acc, 1.0f / l, s.HS);
  lse[(size_t(b) * s.NH + h) * s.T + t] = m + logf(l);
}

// D (B, NH, T) = rowsum(dO * O) per head: thread per (b, h, t).
__global__ void flash_row_dot(float* dsum, const float* dout, const float* out, FlashShape s) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(s.B) * s.NH * s.T) return;
  const int t = int(i % s.T), h = int(i / s.T % s.NH), b = int(i / (size_t(s.T) * s.NH));
  const size_t o = (size_t(b) * s.T + t) * s.C + h * s.HS;
  float acc = 0.0f;
  for (int d = 0; d < s.HS; ++d) acc += dout[o + d] * out[o + d];
  dsum[i] = acc;
}

// dQ_t = scale * sum_{j <= t} dS_tj k_j: thread per query row.
template <int HSMAX>
__global__ void flash_backward_dq(float* dq, const float* dout, const float* q, const float* k,
                                  const float* v, const float* lse, const float* dsum, FlashShape s,
                                  DropoutKey key) {
  constexpr int Tile = tile_rows<HSMAX>();
  __shared__ float ks[Tile * HSMAX], vs[Tile * HSMAX], dos[Tile * (HSMAX + 1)];
  const int b = blockIdx.y / s.NH, h = blockIdx.y % s.NH;
  const int t0 = blockIdx.x * Tile, t = t0 + threadIdx.x;
  const bool active = t < s.T;
  // This row of dO in shared memory, padded so each thread's row is its own bank.
  float* dor = dos + threadIdx.x * (HSMAX + 1);
  float qr[HSMAX], acc[HSMAX];
#pragma unroll
  for (int d = 0; d < HSMAX; ++d) {
    const bool in = active && d < s.HS;
    qr[d] = in ? s.scale * q[(size_t(b) * s.T + t) * s.ld + h * s.HS + d] : 0.0f;
    dor[d] = in ? dout[(size_t(b) * s.T + t) * s.C + h * s.HS + d] : 0.0f;
    acc[d] = 0.0f;
  }
  const size_t row = (size_t(b) * s.NH + h) * s.T + t;
  const float row_lse = active ? lse[row] : 0.0f, row_d = active ? dsum[row] : 0.0f;
  const int block_keys = min(s.T, t0 + Tile);
  for (int j0 = 0; j0 < block_keys; j0 += Tile) {
    load_key_tile<Tile, HSMAX>(ks, vs, k, v, s, b, h, j0);
    const int visible = active ? min(Tile, t + 1 - j0) : 0;
    for (int r = 0; r < visible; ++r) {
      float sc = 0.0f, dp = 0.0f;
#pragma unroll
      for (int d = 0; d < HSMAX; ++d) {
        sc += qr[d] * ks[r * HSMAX + d];
        dp += dor[d] * vs[r * HSMAX + d];
      }
      const float p = expf(sc - row_lse);
      const float ds = p * (dp * keep_multiplier(key, s, b, h, t, j0 + r) - row_d);
#pragma unroll
      for (int d = 0; d < HSMAX; ++d) acc[d] += ds * ks[r * HSMAX + d];
    }
  }
  if (!active) return;
  store_row(dq + (size_t(b) * s.T + t) * s.ld + h * s.HS, acc, s.scale, s.HS);
}

// dK_j = sum_{t >= j} dS_tj (scale q_t); dV_j = sum_{t >= j} m_tj P_tj dO_t: thread per
// key row; the queries come through shared memory in tiles. Which: kBoth, or for wide
// heads kKeys and kValues in two launches, since two HSMAX-wide accumulators per thread
// spill registers at HSMAX = 64 (ptxas: 696 bytes); the split recomputes the scores.
enum Which { kKeys = 1, kValues = 2, kBoth = 3 };
template <int HSMAX, int WHICH>
__global__ void flash_backward_dkv(float* dk, float* dv, const float* dout, const float* q,
                                   const float* k, const float* v, const float* lse,
                                   const float* dsum, FlashShape s, DropoutKey key) {
  constexpr int Tile = tile_rows<HSMAX>();
  __shared__ float qs[Tile * HSMAX], dos[Tile * HSMAX], own[2 * Tile * (HSMAX + 1)];
  __shared__ float tile_lse[Tile], tile_d[Tile];
  const int b = blockIdx.y / s.NH, h = blockIdx.y % s.NH;
  const int j0 = blockIdx.x * Tile, j = j0 + threadIdx.x;
  const bool active = j < s.T;
  // This key's k and v rows, padded so each thread's row is its own bank.
  float* kr = own + threadIdx.x * (HSMAX + 1);
  float* vr = own + (Tile + threadIdx.x) * (HSMAX + 1);
  constexpr bool kWantK = WHICH & kKeys, kWantV = WHICH & kValues;
  constexpr int GK = kWantK ? HSMAX : 1, GV = kWantV ? HSMAX : 1;
  float gk[GK], gv[GV];
#pragma unroll
  for (int d = 0; d < HSMAX; ++d) {
    const bool in = active && d < s.HS;
    kr[d] = in ? k[(size_t(b) * s.T + j) * s.ld + h * s.HS + d] : 0.0f;
    vr[d] = in ? v[(size_t(b) * s.T + j) * s.ld + h * s.HS + d] : 0.0f;
  }
#pragma unroll
  for (int d = 0; d < GK; ++d) gk[d] = 0.0f;
#pragma unroll
  for (int d = 0; d < GV; ++d) gv[d] = 0.0f;
  for (int i0 = j0; i0 < s.T; i0 += Tile) {  // causal: queries t >= j0 only
    __syncthreads();
    load_tile<Tile, HSMAX>(qs, q, s.ld, s, b, h, i0, s.scale);
    load_tile<Tile, HSMAX>(dos, dout, s.C, s, b, h, i0, 1.0f);
    for (int r = threadIdx.x; r < Tile; r += blockDim.x) {
      const int t = i0 + r;
      const size_t row = (size_t(b) * s.NH + h) * s.T + t;
      tile_lse[r] = t < s.T ? lse[row] : 0.0f;
      tile_d[r] = t < s.T ? dsum[row] : 0.0f;
    }
    __syncthreads();
    if (!active) continue;
    const int last = min(Tile, s.T - i0);
    for (int r = max(0, j - i0); r < last; ++r) {  // rows t = i0 + r >= j
      float sc = 0.0f;
#pragma unroll
      for (int d = 0; d < HSMAX; ++d) sc += qs[r * HSMAX + d] * kr[d];
      const float p = expf(sc - tile_lse[r]);
      const float keep = keep_multiplier(key, s, b, h, i0 + r, j);
      if constexpr (kWantK) {
        float dp = 0.0f;
#pragma unroll
        for (int d = 0; d < HSMAX; ++d) dp += dos[r * HSMAX + d] * vr[d];
        const float ds = p * (dp * keep - tile_d[r]);
#pragma unroll
        for (int d = 0; d < HSMAX; ++d) gk[d] += ds * qs[r * HSMAX + d];
      }
      if constexpr (kWantV) {
        const float pd = p * keep;
#pragma unroll
        for (int d = 0; d < HSMAX; ++d) gv[d] += pd * dos[r * HSMAX + d];
      }
    }
  }
  if (!active) return;
  const size_t o = (size_t(b) * s.T + j) * s.ld + h * s.HS;
  if constexpr (kWantK) store_row(dk + o, gk, 1.0f, s.HS);
  if constexpr (kWantV) store_row(dv + o, gv, 1.0f, s.HS);
}

FlashShape flash_shape(int B, int T, int C, int NH) {
  const int HS = C / NH;
  if (HS > 128)
    throw Error(fmt::format("flash attention: head size {} > 128 is not supported", HS));
  return {B, T, C, NH, HS, 3 * C, 1.0f / sqrtf(float(HS))};
}

// Calls f with the smallest HSMAX in {16, 32, 64, 128} that holds the head.
template <typename F>
void with_head_bound(int HS, F&& f) {
  if (HS <= 16) {
    f(std::integral_constant<int, 16>{});
  } else if (HS <= 32) {
    f(std::integral_constant<int, 32>{});
  } else if (HS <= 64) {
    f(std::integral_constant<int, 64>{});
  } else {
    f(std::integral_constant<int, 128>{});
  }
}

}  // namespace

bool CudaBackend::attention_stores_probabilities() const { return false; }

namespace {

// The 16-bit q, k, v sit after the (B, NH, T) log-sum-exps, from a 256-byte boundary.
size_t lse_floats_padded(int B, int T, int NH) { return (size_t(B) * NH * T + 63) / 64 * 64; }

}  // namespace

size_t CudaBackend::attention_state_floats(int B, int T, int C, int NH) const {
  const size_t lse = size_t(B) * NH * T;
  if (precision_ == MatmulPrecision::fp32 || !cuda::tensor_core_attention_fits(C, NH)) return lse;
  return lse_floats_padded(B, T, NH) +
         (cuda::tensor_core_attention_qkv16_bytes(B, T, C) + sizeof(float) - 1) / sizeof(float);
}

bool CudaBackend::attention_backward_reads_state_only(int C, int NH) const {
  return precision_ != MatmulPrecision::fp32 && cuda::tensor_core_attention_fits(C, NH);
}

void* CudaBackend::attention_scratch(int B, int T, int C) {
  const size_t bytes = cuda::tensor_core_attention_scratch_bytes(B, T, C);
  if (attention16_.bytes() < bytes) attention16_ = cuda::DeviceBuffer(bytes);
  return attention16_.as<void>();
}

// The tensor-core forward into out, or (out held for products only: hold_product_input)
// into its 16-bit copy alone; a held out gets its copy from the kernel either way.
void CudaBackend::tensor_core_attention_forward(float* out, float* att, const float* qkv,
                                                void* qkv16, int B, int T, int C, int NH,
                                                const DropoutKey& dropout) {
  bool copy_only = false;
  void* out16 = copies_.held_copy_to_write(out, size_t(B) * T * C, &copy_only);
  const bool bf16 = precision_ == MatmulPrecision::bf16;
  if (tuning_.attention_forward == cuda::AttentionForward::cudnn && !dropout.active()) {
    if (qkv) cuda::tensor_core_attention_round_qkv(bf16, qkv16, qkv, B, T, C);
    // Without a held copy, the backward's dO scratch holds the 16-bit output meanwhile.
    cudnn_attention().forward(bf16, copy_only ? nullptr : out,
                              out16 ? out16 : attention_scratch(B, T, C), att, qkv16, B, T, C, NH);
    return;
  }
  cuda::tensor_core_attention_forward(bf16, copy_only ? nullptr : out, out16, att, qkv, qkv16, B, T,
                                      C, NH, dropout, tuning_.attention_forward);
}

void CudaBackend::CudnnAttentionDeleter::operator()(cuda::CudnnAttention* a) const { delete a; }

cuda::CudnnAttention& CudaBackend::cudnn_attention() {
  if (!cudnn_attention_) cudnn_attention_.reset(new cuda::CudnnAttention);
  return *cudnn_attention_;
}

std::string CudaBackend::cudnn_attention_notes() const {
  return cudnn_attention_ ? cudnn_attention_->notes() : std::string();
}

// In bf16 / fp16 on the tensor-core route, the projection's GEMM writes q, k, v in 16 bits
// straight into the attention state, bias added in its epilogue (in 16 bits, as autocast
// adds it): no fp32 qkv written (B x T x 3C floats), and no pass that reads it back to
// round it (together 0.3 GB a layer for GPT-2 124M at B=16, T=1024).
void CudaBackend::qkv_attention_forward(float* out, float* att, float* qkv, const float* inp,
                                        const float* w_qkv, const float* b_qkv, int B, int T, int C,
                                        int NH, const DropoutKey& dropout) {
  const int N = B * T;
  if (precision_ != MatmulPrecision::fp32 && b_qkv &&
      cuda::tensor_core_attention_fits(C, NH, qkv, att)) {
    float* qkv16 = att + lse_floats_padded(B, T, NH);
    if (lt_matmul(LtProduct{3 * C, N, C, false, w_qkv, nullptr, 3 * C, inp, nullptr, C, qkv16,
                            3 * C, true, LtEpilogue::bias,
                            copies_.rounded(3, b_qkv, size_t(3) * C)})) {
      tensor_core_attention_forward(out, att, nullptr, qkv16, B, T, C, NH, dropout);
      return;
    }
  }
  Backend::qkv_attention_forward(out, att, qkv, inp, w_qkv, b_qkv, B, T, C, NH, dropout);
}

void CudaBackend::attention_forward(float* out, float* att, const float* qkv, int B, int T, int C,
                                    int NH, const DropoutKey& dropout) {
  const FlashShape s = flash_shape(B, T, C, NH);
  if (precision_ != MatmulPrecision::fp32 && cuda::tensor_core_attention_fits(C, NH, qkv, att)) {
    tensor_core_attention_forward(out, att, qkv, att + lse_floats_padded(B, T, NH), B, T, C, NH,
                                  dropout);
    return;
  }
  with_head_bound(s.HS, [&](auto bound) {
    constexpr int HSMAX = decltype(bound)::value, Tile = tile_rows<HSMAX>();
    const dim3 grid(unsigned((T + Tile - 1) / Tile), unsigned(B * NH));
    flash_forward<HSMAX><<<grid, Tile>>>(out, att, qkv, qkv + C, qkv + 2 * C, s, dropout);
  });
  COHORT_CUDA_LAUNCHED();
}

float* CudaBackend::row_dot(size_t rows) {
  if (row_dot_.bytes() < rows * sizeof(float)) row_dot_ = cuda::DeviceBuffer(rows * sizeof(float));
  return row_dot_.as<float>();
}

// The backward on the tensor-core route, if the forward took it: it did exactly when qkv
// and att were aligned (and left q, k, v in 16 bits in att, perhaps only there, and its
// log-sum-exps in their units). io's dO and O: in fp32 (aligned, and O written), or in 16
// bits; io's state and scratch are filled in here.
bool CudaBackend::tensor_core_attention_backward(cuda::TensorCoreBackward io, const float* qkv,
                                                 const float* att, int B, int T, int C, int NH,
                                                 const DropoutKey& dropout) {
  if (!cuda::tensor_core_attention_fits(C, NH, qkv, att)) return false;
  if (io.dout) {
    if (!cuda::tensor_core_attention_fits(C, NH, qkv, att, io.dout, io.out))
      throw Error(
          "attention_backward: dout and out must be 16-byte aligned (the forward took the "
          "tensor-core route)");
    if (copies_.held_unwritten(io.out))
      throw Error(
          "attention_backward: out was held for products only (hold_product_input), so the "
          "forward wrote only its 16-bit copy; attention_branch_backward reads that");
    io.dout16 = attention_scratch(B, T, C);
  }
  io.qkv16 = att + lse_floats_padded(B, T, NH);
  io.lse = att;
  const bool bf16 = precision_ == MatmulPrecision::bf16;
  if (tuning_.cudnn_attention_backward && !dropout.active() && !io.dout && io.dqkv16 && io.out16 &&
      cuda::CudnnAttention::backward_takes(T)) {
    cudnn_attention().use_backward_samples(tuning_.cudnn_backward_samples);
    cudnn_attention().backward(bf16, io.dqkv16, io.dout16, io.out16, io.qkv16, io.lse, B, T, C, NH);
    return true;
  }
  io.dsum = row_dot(size_t(B) * NH * T);
  cuda::tensor_core_attention_backward(bf16, io, B, T, C, NH, dropout, tuning_.split_attention_dkv);
  return true;
}

// On the tensor-core route (bf16 / fp16), in 16 bits from the projection's input gradient
// to the qkv projection's GEMMs: the projection's dx GEMM writes dO in 16 bits, the
// prologue takes D from it and the forward's 16-bit output (FlashAttention-2 keeps both
// in 16 bits too), the attention kernels store q's, k's and v's gradients in 16 bits,
// which the bias's column sums and both GEMMs read as they are. No fp32 dO or dqkv is
// written and read back to be rounded: 0.15 GB + 0.22 GB a layer of GPT-2 124M at B=16,
// T=1024, and the prologue reads 16-bit values.
void CudaBackend::attention_branch_backward(float* dinp, float* dw_qkv, float* db_qkv,
                                            float* dw_proj, float* db_proj, float* dattn,
                                            float* dqkv, float* scratch, const float* dy,
                                            const float* qkv, const float* att, const float* out,
                                            const float* inp, const float* w_qkv,
                                            const float* w_proj, int B, int T, int C, int NH,
                                            const DropoutKey& dropout) {
  const int N = B * T;
  if (precision_ == MatmulPrecision::fp32 || !cuda::tensor_core_attention_fits(C, NH, qkv, att)) {
    Backend::attention_branch_backward(dinp, dw_qkv, db_qkv, dw_proj, db_proj, dattn, dqkv, scratch,
                                       dy, qkv, att, out, inp, w_qkv, w_proj, B, T, C, NH, dropout);
    return;
  }
  // dw_proj += out^T . dy, db_proj += colsum(dy), dy rounded once for both products.
  const void* dy16 =
      linear_backward_impl(nullptr, dw_proj, db_proj, dy, nullptr, out, nullptr, w_proj, N, C, C);
  // dO^T (C x N) = W_proj (C x C) . dy^T (C x N), stored in 16 bits.
  void* dout16 = attention_scratch(B, T, C);
  gemm(true, false, C, N, C, w_proj, C, dy, C, 0.0f, dattn, C, nullptr, dy16, 1.0f, dout16);
  cuda::TensorCoreBackward io;
  io.dqkv16 = dqkv;  // the fp32 work space holds the 16-bit gradients with room to spare
  io.dout16 = dout16;
  io.out16 = copies_.rounded(0, out, size_t(N) * C);  // the held copy, as the forward wrote it
  tensor_core_attention_backward(io, qkv, att, B, T, C, NH, dropout);
  linear_backward_impl(dinp, dw_qkv, db_qkv, nullptr, io.dqkv16, inp, nullptr, w_qkv, N, C, 3 * C);
}

void CudaBackend::attention_backward(float* dqkv, float*, const float* dout, const float* qkv,
                                     const float* att, const float* out, int B, int T, int C,
                                     int NH, const DropoutKey& dropout) {
  if (precision_ != MatmulPrecision::fp32) {
    cuda::TensorCoreBackward io;
    io.dqkv = dqkv;
    io.dout = dout;
    io.out = out;
    if (tensor_core_attention_backward(io, qkv, att, B, T, C, NH, dropout)) return;
  }
  const FlashShape s = flash_shape(B, T, C, NH);
  const size_t rows = size_t(B) * NH * T;
  float* dsum = row_dot(rows);
  flash_row_dot<<<cuda::blocks_for(rows, 256), 256>>>(dsum, dout, out, s);
  COHORT_CUDA_LAUNCHED();
  const float *q = qkv, *k = qkv + C, *v = qkv + 2 * C;
  with_head_bound(s.HS, [&](auto bound) {
    constexpr int HSMAX = decltype(bound)::value, Tile = tile_rows<HSMAX>();
    const dim3 grid(unsigned((T + Tile - 1) / Tile), unsigned(B * NH));
    float *dk = dqkv + C, *dv = dqkv + 2 * C;
    flash_backward_dq<HSMAX><<<grid, Tile>>>(dqkv, dout, q, k, v, att, dsum, s, dropout);
    if constexpr (HSMAX <= 32) {
      flash_backward_dkv<HSMAX, kBoth>
          <<<grid, Tile>>>(dk, dv, dout, q, k, v, att, dsum, s, dropout);
    } else {
      flash_backward_dkv<HSMAX, kKeys>
          <<<grid, Tile>>>(dk, dv, dout, q, k, v, att, dsum, s, dropout);
      flash_backward_dkv<HSMAX, kValues>
          <<<grid, Tile>>>(dk, dv, dout, q, k, v, att, dsum, s, dropout);
    }
  });
  COHORT_CUDA_LAUNCHED();
}

}  // namespace cohort
