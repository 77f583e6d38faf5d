// Matmuls through cuBLAS: sgemm in fp32, or a 16-bit GEMM (cublasGemmEx: bf16 or fp16
// operands, fp32 accumulation and output) after rounding both operands. cuBLAS is
// column-major: a row-major (r x c) buffer is the column-major (c x r) transpose, so each
// product is written for the transposes. A backward rounds its output gradient once for
// both of its products, in the same pass as its bias gradient's column sums, which have a
// fixed order (cuda_column_sums.cuh).
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_column_sums.cuh"
#include "backend/cuda/cuda_half.cuh"
#include "backend/cuda/cuda_reduce.cuh"

namespace cohort {

namespace {

__global__ void add_bias(float* out, const float* bias, int N, int OC) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < size_t(N) * OC) out[i] += bias[i % OC];
}

}  // namespace

MatmulPrecision parse_matmul_precision(const std::string& s) {
  if (s == "fp32") return MatmulPrecision::fp32;
  if (s == "bf16") return MatmulPrecision::bf16;
  if (s == "fp16") return MatmulPrecision::fp16;
  throw Error(fmt::format("precision '{}': expected fp32, bf16 or fp16", s));
}

// The caching hints (backend.h) take effect in bf16 / fp16 only; the copies themselves are
// cuda_half_copies.h's.
void CudaBackend::parameters_updated(const float* params, size_t n) {
  if (precision_ == MatmulPrecision::fp32 || n == 0) return;
  copies_.parameters_updated(params, n);
}

void CudaBackend::parameters_released(const float* params) { copies_.parameters_released(params); }

void CudaBackend::hold_input(const float* x, size_t n) {
  if (precision_ != MatmulPrecision::fp32 && n > 0) copies_.hold(x, n, false);
}

void CudaBackend::hold_product_input(const float* x, size_t n) {
  if (precision_ != MatmulPrecision::fp32 && n > 0) copies_.hold(x, n, true);
}

void CudaBackend::pass_gradient(const float* g, size_t n) {
  if (tuning_.gradients_16_bit && precision_ != MatmulPrecision::fp32 && n > 0) copies_.pass(g, n);
}

void CudaBackend::pass_branch(const float* y, size_t n) {
  if (tuning_.branches_16_bit && precision_ != MatmulPrecision::fp32 && n > 0) copies_.pass(y, n);
}

void CudaBackend::hold_gradient(const float* g, size_t n) {
  if (precision_ == MatmulPrecision::fp32 || !tuning_.gradients_16_bit || n == 0) return;
  copies_.hold_gradient(g, n);
}

const void* CudaBackend::rounded_once(const float* x, size_t n) {
  return precision_ == MatmulPrecision::fp32 ? nullptr : copies_.rounded(2, x, n);
}

// The epilogue reads the bias in vectors: an unaligned one takes the unfused route.
// Operands are rounded first: their addresses decide the algorithm. A weight's copy lies
// inside the parameters' 16-bit copy, at its offset there, so it may be less than 256-byte
// aligned, as may a caller's 16-bit buffer; scratch is 256-aligned.
bool CudaBackend::lt_matmul(LtProduct p, const std::function<bool(void*)>& reference) {
  if (precision_ == MatmulPrecision::fp32 || (p.bias && reinterpret_cast<uintptr_t>(p.bias) % 16))
    return false;
  if (!p.a16) p.a16 = copies_.rounded(0, p.a32, size_t(p.lda) * (p.trans_a ? p.m : p.k));
  if (!p.b16) p.b16 = copies_.rounded(1, p.b32, size_t(p.ldb) * (p.trans_b ? p.k : p.n));
  return lt_.run(p, precision_ == MatmulPrecision::bf16, tuning_.measured_lt_algorithms, reference);
}

std::string CudaBackend::lt_notes() const { return lt_.notes(); }

void CudaBackend::gemm(bool trans_a, bool trans_b, int m, int n, int k, const float* A, int lda,
                       const float* B, int ldb, float beta, float* C, int ldc, const void* a16,
                       const void* b16, float alpha, void* c16) {
  auto h = static_cast<cublasHandle_t>(cublas_);
  const cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (precision_ == MatmulPrecision::fp32) {
    COHORT_CUBLAS_CHECK(cublasSgemm(h, ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc));
    return;
  }
  // Column-major sizes: op(A) is m x k, so A holds lda * (trans_a ? m : k) values.
  if (!a16) a16 = copies_.rounded(0, A, size_t(lda) * (trans_a ? m : k));
  if (!b16) b16 = copies_.rounded(1, B, size_t(ldb) * (trans_b ? k : n));
  const cudaDataType_t t = precision_ == MatmulPrecision::bf16 ? CUDA_R_16BF : CUDA_R_16F;
  auto gemm_ex = [&](void* out) {
    return cublasGemmEx(h, ta, tb, m, n, k, &alpha, a16, t, lda, b16, t, ldb, &beta, out,
                        c16 ? t : CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  };
  void* out = c16 ? c16 : static_cast<void*>(C);
  if (tuning_.measured_lt_algorithms) {  // cuBLASLt where a candidate gives these bits faster
    LtProduct p{
        m, n, k, trans_a, A, a16, lda, B, b16, ldb, out, ldc, c16 != nullptr, LtEpilogue::none};
    p.trans_b = trans_b;
    p.alpha = alpha;
    p.beta = beta;
    if (lt_matmul(p, [&](void* to) { return gemm_ex(to) == CUBLAS_STATUS_SUCCESS; })) return;
  }
  COHORT_CUBLAS_CHECK(gemm_ex(out));
}

void CudaBackend::linear_forward(float* out, const float* inp, const float* weight,
                                 const float* bias, int N, int C, int OC) {
  linear_forward_impl(out, inp, nullptr, weight, bias, N, C, OC);
}

void CudaBackend::linear_forward_impl(float* out, const float* inp, const void* inp16,
                                      const float* weight, const float* bias, int N, int C,
                                      int OC) {
  // out^T (OC x N) = W^T (OC x C) . inp^T (C x N)
  // A passed residual branch (pass_branch) in 16 bits, its bias added in the epilogue in
  // 16 bits too, as autocast's linear adds it. Where cuBLASLt takes no such product, out
  // is computed in fp32 instead, unmarked.
  if (void* out16 = copies_.passed_to_write(out, size_t(N) * OC, layernorm_reads_16_bit_rows(OC))) {
    if (!bias) {
      gemm(false, false, OC, N, C, weight, OC, inp, C, 0.0f, out, OC, nullptr, inp16, 1.0f, out16);
      return;
    }
    if (lt_matmul(LtProduct{OC, N, C, false, weight, nullptr, OC, inp, inp16, C, out16, OC, true,
                            LtEpilogue::bias, copies_.rounded(3, bias, size_t(OC))}))
      return;
    copies_.pass(out, size_t(N) * OC);
  }
  if (bias && lt_matmul(LtProduct{OC, N, C, false, weight, nullptr, OC, inp, inp16, C, out, OC,
                                  false, LtEpilogue::bias, bias}))
    return;
  gemm(false, false, OC, N, C, weight, OC, inp, C, 0.0f, out, OC, nullptr, inp16);
  if (bias) {
    add_bias<<<cuda::blocks_for(size_t(N) * OC, 256), 256>>>(out, bias, N, OC);
    COHORT_CUDA_LAUNCHED();
  }
}

void CudaBackend::linear_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                  const float* inp, const float* weight, int N, int C, int OC) {
  linear_backward_impl(dinp, dweight, dbias, dout, nullptr, inp, nullptr, weight, N, C, OC);
}

const void* CudaBackend::linear_backward_impl(float* dinp, float* dweight, float* dbias,
                                              const float* dout, const void* dout16,
                                              const float* inp, const void* inp16,
                                              const float* weight, int N, int C, int OC) {
  const bool bf16 = precision_ == MatmulPrecision::bf16;
  // dout held (hold_gradient) and its LayerNorm backward derived its copy and column sums
  cuda::HalfCopies::HeldGradient& held = copies_.held_gradient();
  if (dout && !dout16 && held.ready == dout && held.n == size_t(N) * OC) {
    held.ready = nullptr;
    dout16 = held.copy.as<void>();
    if (dbias) {
      cuda::add_group_sums<<<cuda::group_sums_grid(OC), cuda::group_sums_block()>>>(
          dbias, held.partials.as<float>(), held.groups, OC);
      COHORT_CUDA_LAUNCHED();
      dbias = nullptr;
    }
  }
  // Opt-in: a 16-bit dout's bias gradient summed by the weight-gradient product's BGRADA
  // epilogue as it reads dout, into the column partials (the epilogue writes its sums, it
  // does not add them), then added to dbias as one group. The product itself is the same
  // dW^T += dout^T . inp as below.
  bool dweight_done = false;
  if (dbias && !dout && dout16 && tuning_.bias_gradient_epilogues) {  // lt_matmul refuses fp32
    float* sums = column_partials(size_t(OC));
    LtProduct p{OC,  C,     N, false,   nullptr, dout16, OC,
                inp, inp16, C, dweight, OC,      false,  LtEpilogue::bgrada,
                sums};
    p.trans_b = true;
    p.beta = 1.0f;
    if (lt_matmul(p)) {
      cuda::add_group_sums<<<cuda::group_sums_grid(OC), cuda::group_sums_block()>>>(dbias, sums, 1,
                                                                                    OC);
      COHORT_CUDA_LAUNCHED();
      dbias = nullptr;
      dweight_done = true;
      bias_gradient_route_ = "cuBLASLt BGRADA epilogue";
    }
  }
  if (dbias) {  // the pass over dout writes the products' 16-bit copy of it too
    namespace cs = cuda::column_sums;
    // One launch of sums<T, R> over dout's (N x OC) values, then the groups' sums added.
    auto column_sums = [&](auto* values, auto* copy, size_t alignment) {
      using T = std::remove_const_t<std::remove_pointer_t<decltype(values)>>;
      using R = std::remove_pointer_t<decltype(copy)>;
      const cs::Split split(N, OC, cs::kPerLane<T, R>);
      float* partial = column_partials(size_t(split.groups) * OC);
      const bool vector = OC % cs::kPerLane<T, R> == 0 &&
                          reinterpret_cast<uintptr_t>(values) % alignment == 0 &&
                          reinterpret_cast<uintptr_t>(copy) % 8 == 0;
      cs::sums<T, R>
          <<<split.grid(OC), split.block()>>>(partial, values, copy, N, OC, split.rows, vector);
      COHORT_CUDA_LAUNCHED();
      cuda::add_group_sums<<<cuda::group_sums_grid(OC), cuda::group_sums_block()>>>(
          dbias, partial, split.groups, OC);
      COHORT_CUDA_LAUNCHED();
    };
    if (dout && (dout16 || precision_ == MatmulPrecision::fp32)) {
      column_sums(dout, static_cast<void*>(nullptr), 16);
    } else if (dout) {
      void* copy = copies_.scratch16(2, size_t(N) * OC);
      cuda::with_16_bit_type(
          bf16, [&](auto tag) { column_sums(dout, static_cast<decltype(tag)*>(copy), 16); });
      dout16 = copy;
    } else {
      cuda::with_16_bit_type(bf16, [&](auto tag) {
        using E = decltype(tag);
        column_sums(static_cast<const E*>(dout16), static_cast<void*>(nullptr), 16);
      });
      bias_gradient_route_ = "column-sum kernel";
    }
  }
  if (!dout16) dout16 = rounded_once(dout, size_t(N) * OC);  // both products read it
  // dinp^T (C x N) = W (C x OC) . dout^T (OC x N)
  if (dinp)
    gemm(true, false, C, N, OC, weight, OC, dout, OC, 0.0f, dinp, C, nullptr, dout16, 1.0f,
         copies_.passed_to_write(dinp, size_t(N) * C, layernorm_reads_16_bit_rows(C)));
  // dW^T (OC x C) += dout^T (OC x N) . inp (N x C)
  if (!dweight_done)
    gemm(false, true, OC, C, N, dout, OC, inp, C, 1.0f, dweight, OC, dout16, inp16);
  return dout16;
}

void CudaBackend::lm_head_forward(float* logits, const float* x, const float* wte, int N, int C,
                                  int Vp) {
  // logits^T (Vp x N) = wte (Vp x C) . x^T (C x N)
  gemm(true, false, Vp, N, C, wte, C, x, C, 0.0f, logits, Vp);
}

void CudaBackend::lm_head_backward(float* dx, float* dwte, const float* dlogits, const float* x,
                                   const float* wte, int N, int C, int Vp) {
  const void* dlogits16 = rounded_once(dlogits, size_t(N) * Vp);  // both products read it
  // dx^T (C x N) = wte^T (C x Vp) . dlogits^T (Vp x N)
  gemm(false, false, C, N, Vp, wte, C, dlogits, Vp, 0.0f, dx, C, nullptr, dlogits16, 1.0f,
       copies_.passed_to_write(dx, size_t(N) * C, layernorm_reads_16_bit_rows(C)));
  // dwte^T (C x Vp) += x^T (C x N) . dlogits (N x Vp)
  gemm(false, true, C, Vp, N, x, C, dlogits, Vp, 1.0f, dwte, C, nullptr, dlogits16);
}

}  // namespace cohort
