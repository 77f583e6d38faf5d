// LayerNorm on the GPU: the kernels and why they are shaped so are in cuda_layernorm.cuh.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_layernorm.cuh"

namespace cohort {

namespace ln = cuda::layernorm;

// A held output (Backend::hold_input: ln_1, ln_2, ln_f) gets its 16-bit copy from the
// kernel that computes it, not from a rounding pass over it before its first GEMM.
void CudaBackend::layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                                    const float* weight, const float* bias, int N, int C) {
  void* out16 = held_copy_to_write(out, size_t(N) * C);
  const unsigned blocks = cuda::blocks_for(N, 8);
  ln::with_lane_slots(C, [&](auto k) {
    constexpr int K = decltype(k)::value;
    if (!out16) {
      ln::ln_forward<K, void><<<blocks, 256>>>(out, nullptr, mean, rstd, inp, weight, bias, N, C);
      return;
    }
    cuda::with_16_bit_type(precision_ == MatmulPrecision::bf16, [&](auto tag) {
      using E = decltype(tag);
      ln::ln_forward<K, E>
          <<<blocks, 256>>>(out, static_cast<E*>(out16), mean, rstd, inp, weight, bias, N, C);
    });
  });
  COHORT_CUDA_LAUNCHED();
}

void CudaBackend::add_layernorm_forward(float* residual, float* out, float* mean, float* rstd,
                                        const float* x, const float* branch, const float* weight,
                                        const float* bias, int N, int C) {
  void* out16 = held_copy_to_write(out, size_t(N) * C);
  const unsigned blocks = cuda::blocks_for(N, 8);
  ln::with_lane_slots(C, [&](auto k) {
    constexpr int K = decltype(k)::value;
    if (!out16) {
      ln::add_ln_forward<K, void>
          <<<blocks, 256>>>(residual, out, nullptr, mean, rstd, x, branch, weight, bias, N, C);
      return;
    }
    cuda::with_16_bit_type(precision_ == MatmulPrecision::bf16, [&](auto tag) {
      using E = decltype(tag);
      ln::add_ln_forward<K, E><<<blocks, 256>>>(residual, out, static_cast<E*>(out16), mean, rstd,
                                                x, branch, weight, bias, N, C);
    });
  });
  COHORT_CUDA_LAUNCHED();
}

void CudaBackend::layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                     const float* inp, const float* weight, const float* mean,
                                     const float* rstd, int N, int C) {
  ln::with_lane_slots(C, [&](auto k) {
    ln::ln_backward_input<decltype(k)::value>
        <<<cuda::blocks_for(N, 8), 256>>>(dinp, dout, inp, weight, mean, rstd, N, C);
  });
  COHORT_CUDA_LAUNCHED();
  const cuda::ColumnSplit split(N, C);
  float* pw = column_partials(2 * size_t(split.groups) * C);
  float* pb = pw + size_t(split.groups) * C;
  ln::ln_backward_params<<<split.grid(C), split.block()>>>(pw, pb, dout, inp, mean, rstd, N, C,
                                                           split.rows);
  COHORT_CUDA_LAUNCHED();
  cuda::add_group_sums<<<cuda::blocks_for(C, 256), 256>>>(dweight, pw, split.groups, C);
  COHORT_CUDA_LAUNCHED();
  cuda::add_group_sums<<<cuda::blocks_for(C, 256), 256>>>(dbias, pb, split.groups, C);
  COHORT_CUDA_LAUNCHED();
}

}  // namespace cohort
