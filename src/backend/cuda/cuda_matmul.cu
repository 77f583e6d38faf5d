// Matmuls through cuBLAS: sgemm in fp32, or a 16-bit GEMM (cublasGemmEx: bf16 or fp16
// operands, fp32 accumulation and output) after rounding both operands. cuBLAS is
// column-major: a row-major (r x c) buffer is the column-major (c x r) transpose, so each
// product is written for the transposes. Bias gradients are column sums by one thread
// per column, rows in order.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <fmt/format.h>

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

__global__ void round_to_bf16(__nv_bfloat16* out, const float* in, size_t n) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = __float2bfloat16_rn(in[i]);
}

// Values beyond fp16's range become +-inf, which the dynamic loss scaler
// (optim/loss_scaler.h) detects in the gradient norm and answers by skipping the step.
__global__ void round_to_fp16(__half* out, const float* in, size_t n) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = __float2half_rn(in[i]);
}

}  // namespace

MatmulPrecision parse_matmul_precision(const std::string& s) {
  if (s == "fp32") return MatmulPrecision::fp32;
  if (s == "bf16") return MatmulPrecision::bf16;
  if (s == "fp16") return MatmulPrecision::fp16;
  throw Error(fmt::format("precision '{}': expected fp32, bf16 or fp16", s));
}

const void* CudaBackend::rounded(int slot, const float* x, size_t n) {
  cuda::DeviceBuffer& buf = half_scratch_[slot];
  if (buf.bytes() < n * 2) buf = cuda::DeviceBuffer(n * 2);
  if (precision_ == MatmulPrecision::bf16) {
    round_to_bf16<<<cuda::blocks_for(n, 256), 256>>>(buf.as<__nv_bfloat16>(), x, n);
  } else {
    round_to_fp16<<<cuda::blocks_for(n, 256), 256>>>(buf.as<__half>(), x, n);
  }
  COHORT_CUDA_LAUNCHED();
  return buf.as<void>();
}

void CudaBackend::gemm(bool trans_a, bool trans_b, int m, int n, int k, const float* A, int lda,
                       const float* B, int ldb, float beta, float* C, int ldc) {
  const float alpha = 1.0f;
  auto h = static_cast<cublasHandle_t>(cublas_);
  const cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (precision_ == MatmulPrecision::fp32) {
    COHORT_CUBLAS_CHECK(cublasSgemm(h, ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc));
    return;
  }
  // Column-major sizes: op(A) is m x k, so A holds lda * (trans_a ? m : k) values.
  const void* a16 = rounded(0, A, size_t(lda) * (trans_a ? m : k));
  const void* b16 = rounded(1, B, size_t(ldb) * (trans_b ? k : n));
  const cudaDataType_t t = precision_ == MatmulPrecision::bf16 ? CUDA_R_16BF : CUDA_R_16F;
  COHORT_CUBLAS_CHECK(cublasGemmEx(h, ta, tb, m, n, k, &alpha, a16, t, lda, b16, t, ldb, &beta, C,
                                   CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void CudaBackend::linear_forward(float* out, const float* inp, const float* weight,
                                 const float* bias, int N, int C, int OC) {
  // out^T (OC x N) = W^T (OC x C) . inp^T (C x N)
  gemm(false, false, OC, N, C, weight, OC, inp, C, 0.0f, out, OC);
  if (bias) {
    add_bias<<<cuda::blocks_for(size_t(N) * OC, 256), 256>>>(out, bias, N, OC);
    COHORT_CUDA_LAUNCHED();
  }
}

void CudaBackend::linear_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                  const float* inp, const float* weight, int N, int C, int OC) {
  // dinp^T (C x N) = W (C x OC) . dout^T (OC x N)
  if (dinp) gemm(true, false, C, N, OC, weight, OC, dout, OC, 0.0f, dinp, C);
  // dW^T (OC x C) += dout^T (OC x N) . inp (N x C)
  gemm(false, true, OC, C, N, dout, OC, inp, C, 1.0f, dweight, OC);
  if (dbias) {
    column_sums<<<cuda::blocks_for(OC, 128), 128>>>(dbias, dout, N, OC);
    COHORT_CUDA_LAUNCHED();
  }
}

void CudaBackend::lm_head_forward(float* logits, const float* x, const float* wte, int N, int C,
                                  int Vp) {
  // logits^T (Vp x N) = wte (Vp x C) . x^T (C x N)
  gemm(true, false, Vp, N, C, wte, C, x, C, 0.0f, logits, Vp);
}

void CudaBackend::lm_head_backward(float* dx, float* dwte, const float* dlogits, const float* x,
                                   const float* wte, int N, int C, int Vp) {
  // dx^T (C x N) = wte^T (C x Vp) . dlogits^T (Vp x N)
  gemm(false, false, C, N, Vp, wte, C, dlogits, Vp, 0.0f, dx, C);
  // dwte^T (C x Vp) += x^T (C x N) . dlogits (N x Vp)
  gemm(false, true, C, Vp, N, x, C, dlogits, Vp, 1.0f, dwte, C);
}

}  // namespace cohort
