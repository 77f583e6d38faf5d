// Token + position embedding. Backward without atomics, in the CPU's order: each row of
// dwte and dwpe has one writer that adds its positions in (b, t) order.
#include <cub/cub.cuh>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"

namespace cohort {

namespace {

__global__ void emb_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                            int BT, int T, int C) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(BT) * C) return;
  const size_t bt = i / C;
  const int c = int(i % C), t = int(bt % T);
  out[i] = wte[size_t(tokens[bt]) * C + c] + wpe[size_t(t) * C + c];
}

// dwpe: thread per (t, c), walking the samples in order.
__global__ void wpe_backward(float* dwpe, const float* dout, int B, int T, int C) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(T) * C) return;
  float a = dwpe[i];
  for (int b = 0; b < B; ++b) a += dout[size_t(b) * T * C + i];
  dwpe[i] = a;
}

__global__ void iota(int32_t* x, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] = i;
}

// dwte: block per position of the token-sorted (token, bt) list; the first position of
// each token's run walks the run (bt ascending: the sort is stable) for every channel.
__global__ void wte_backward(float* dwte, const float* dout, const int32_t* sorted_tokens,
                             const int32_t* sorted_bt, int BT, int C) {
  const int first = blockIdx.x;
  const int32_t token = sorted_tokens[first];
  if (first > 0 && sorted_tokens[first - 1] == token) return;
  int end = first + 1;
  while (end < BT && sorted_tokens[end] == token) ++end;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float a = dwte[size_t(token) * C + c];
    for (int n = first; n < end; ++n) a += dout[size_t(sorted_bt[n]) * C + c];
    dwte[size_t(token) * C + c] = a;
  }
}

}  // namespace

void CudaBackend::embedding_forward(float* out, const int32_t* tokens, const float* wte,
                                    const float* wpe, int B, int T, int C) {
  emb_forward<<<cuda::blocks_for(size_t(B) * T * C, 256), 256>>>(out, tokens, wte, wpe, B * T, T,
                                                                 C);
  COHORT_CUDA_LAUNCHED();
}

void CudaBackend::embedding_backward(float* dwte, float* dwpe, const float* dout,
                                     const int32_t* tokens, int B, int T, int C) {
  const int BT = B * T;
  wpe_backward<<<cuda::blocks_for(size_t(T) * C, 256), 256>>>(dwpe, dout, B, T, C);
  COHORT_CUDA_LAUNCHED();
  // Group the positions by token with a stable radix sort, so that each row of dwte has
  // one writer and sums its positions in the order the CPU does (one thread per channel
  // walking all B*T positions left the GPU idle: C / 64 blocks).
  const size_t ints = size_t(BT) * sizeof(int32_t);
  size_t temp = 0;
  COHORT_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
      nullptr, temp, tokens, static_cast<int32_t*>(nullptr), static_cast<const int32_t*>(nullptr),
      static_cast<int32_t*>(nullptr), BT));
  if (token_sort_.bytes() < 3 * ints + temp) token_sort_ = cuda::DeviceBuffer(3 * ints + temp);
  auto* base = token_sort_.as<unsigned char>();
  auto* sorted_tokens = reinterpret_cast<int32_t*>(base);
  auto* bt = reinterpret_cast<int32_t*>(base + ints);
  auto* sorted_bt = reinterpret_cast<int32_t*>(base + 2 * ints);
  iota<<<cuda::blocks_for(BT, 256), 256>>>(bt, BT);
  COHORT_CUDA_LAUNCHED();
  COHORT_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(base + 3 * ints, temp, tokens, sorted_tokens,
                                                    bt, sorted_bt, BT));
  wte_backward<<<unsigned(BT), 128>>>(dwte, dout, sorted_tokens, sorted_bt, BT, C);
  COHORT_CUDA_LAUNCHED();
}

namespace {
// Thread per (row, channel); each output element has one writer.
__global__ void gather_rows_kernel(float* out, const float* in, const int32_t* rows, int n, int C) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(n) * C) return;
  const size_t r = i / C, c = i % C;
  out[i] = in[size_t(rows[r]) * C + c];
}
__global__ void scatter_rows_kernel(float* out, const float* in, const int32_t* rows, int n,
                                    int C) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(n) * C) return;
  const size_t r = i / C, c = i % C;
  out[size_t(rows[r]) * C + c] = in[i];
}
}  // namespace

void CudaBackend::gather_rows(float* out, const float* in, const int32_t* rows, int n, int C) {
  if (n == 0) return;
  gather_rows_kernel<<<cuda::blocks_for(size_t(n) * C, 256), 256>>>(out, in, rows, n, C);
  COHORT_CUDA_LAUNCHED();
}

void CudaBackend::scatter_rows(float* out, const float* in, const int32_t* rows, int n, int C) {
  if (n == 0) return;
  scatter_rows_kernel<<<cuda::blocks_for(size_t(n) * C, 256), 256>>>(out, in, rows, n, C);
  COHORT_CUDA_LAUNCHED();
}

}  // namespace cohort
