// Token + position embedding. Backward: one thread per channel walks every (b, t) in
// order, so rows that repeated tokens share are summed without atomics, always alike.
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

__global__ void emb_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                             int BT, int T, int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  for (int bt = 0; bt < BT; ++bt) {
    const float d = dout[size_t(bt) * C + c];
    dwte[size_t(tokens[bt]) * C + c] += d;
    dwpe[size_t(bt % T) * C + c] += d;
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
  emb_backward<<<cuda::blocks_for(C, 64), 64>>>(dwte, dwpe, dout, tokens, B * T, T, C);
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
