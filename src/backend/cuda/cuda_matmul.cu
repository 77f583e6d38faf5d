// Matmuls through cuBLAS sgemm. cuBLAS is column-major: a row-major (r x c) buffer is
// the column-major (c x r) transpose, so each product is written for the transposes.
// Bias gradients are column sums by one thread per column, rows in order.
#include <cublas_v2.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"

namespace cohort {

namespace {

__global__ void add_bias(float* out, const float* bias, int N, int OC) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < size_t(N) * OC) out[i] += bias[i % OC];
}

__global__ void column_sums(float* dbias, const float* dout, int N, int OC) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= OC) return;
  float s = 0.0f;
  for (int n = 0; n < N; ++n) s += dout[size_t(n) * OC + c];
  dbias[c] += s;
}

void sgemm(void* handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
           const float* A, int lda, const float* B, int ldb, float beta, float* Cm, int ldc) {
  const float alpha = 1.0f;
  COHORT_CUBLAS_CHECK(cublasSgemm(static_cast<cublasHandle_t>(handle), ta, tb, m, n, k, &alpha, A,
                                  lda, B, ldb, &beta, Cm, ldc));
}

}  // namespace

void CudaBackend::linear_forward(float* out, const float* inp, const float* weight,
                                 const float* bias, int N, int C, int OC) {
  // out^T (OC x N) = W^T (OC x C) . inp^T (C x N)
  sgemm(cublas_, CUBLAS_OP_N, CUBLAS_OP_N, OC, N, C, weight, OC, inp, C, 0.0f, out, OC);
  if (bias) {
    add_bias<<<cuda::blocks_for(size_t(N) * OC, 256), 256>>>(out, bias, N, OC);
    COHORT_CUDA_LAUNCHED();
  }
}

void CudaBackend::linear_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                  const float* inp, const float* weight, int N, int C, int OC) {
  // dinp^T (C x N) = W (C x OC) . dout^T (OC x N)
  if (dinp) sgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, C, N, OC, weight, OC, dout, OC, 0.0f, dinp, C);
  // dW^T (OC x C) += dout^T (OC x N) . inp (N x C)
  sgemm(cublas_, CUBLAS_OP_N, CUBLAS_OP_T, OC, C, N, dout, OC, inp, C, 1.0f, dweight, OC);
  if (dbias) {
    column_sums<<<cuda::blocks_for(OC, 128), 128>>>(dbias, dout, N, OC);
    COHORT_CUDA_LAUNCHED();
  }
}

void CudaBackend::lm_head_forward(float* logits, const float* x, const float* wte, int N, int C,
                                  int Vp) {
  // logits^T (Vp x N) = wte (Vp x C) . x^T (C x N)
  sgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, Vp, N, C, wte, C, x, C, 0.0f, logits, Vp);
}

void CudaBackend::lm_head_backward(float* dx, float* dwte, const float* dlogits, const float* x,
                                   const float* wte, int N, int C, int Vp) {
  // dx^T (C x N) = wte^T (C x Vp) . dlogits^T (Vp x N)
  sgemm(cublas_, CUBLAS_OP_N, CUBLAS_OP_N, C, N, Vp, wte, C, dlogits, Vp, 0.0f, dx, C);
  // dwte^T (C x Vp) += x^T (C x N) . dlogits (N x Vp)
  sgemm(cublas_, CUBLAS_OP_N, CUBLAS_OP_T, C, Vp, N, x, C, dlogits, Vp, 1.0f, dwte, C);
}

}  // namespace cohort
