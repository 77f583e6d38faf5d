// Training's LM head and loss in bf16 / fp16, llm.c's fused classifier:
// - forward: the GEMM writes the logits in 16 bits into the front half of the fp32
//   logits buffer; one block per row then computes the loss and overwrites the row, in
//   place, with (softmax - onehot) * kStoreScale, still 16-bit;
// - backward: the two GEMMs read those rows as they are, with alpha = dloss / kStoreScale.
// Against the separate ops this drops the fp32 logits (3.3 GB written and read for
// GPT-2 124M at B=16, T=1024), a pass over them, and the rounding copy of dlogits
// (cross-entropy alone was 11.3% of a bf16 step's kernel time on an H200, by ncu).
//
// Numerics: the softmax sees logits rounded to 16 bits (PyTorch's autocast does the same:
// its LM-head matmul returns bf16 logits); it is computed in fp32. fp16 stores the
// gradient scaled by 2^10 so probabilities down to 6e-11 stay representable (bf16 has
// fp32's range and stores it unscaled); the scale is a power of two, so exact.

#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_lm_head_loss.cuh"

namespace cohort {

using cuda::lm_loss::kPack;
using cuda::lm_loss::kStoreScale;
using cuda::lm_loss::kThreads;
using cuda::lm_loss::lm_loss_rows;
using cuda::lm_loss::row_fits_registers;

size_t CudaBackend::lm_head_loss_floats(size_t N, int Vp) const {
  // A plan's buffers are 256-byte aligned, so the fused route's alignment holds.
  const size_t n = N * size_t(Vp);
  return precision_ != MatmulPrecision::fp32 && Vp % kPack == 0 ? (n + 1) / 2 : n;
}

bool CudaBackend::fused_lm_loss(const float* logits, int Vp) const {
  return precision_ != MatmulPrecision::fp32 && Vp % kPack == 0 &&
         reinterpret_cast<uintptr_t>(logits) % 16 == 0;
}

void CudaBackend::lm_head_loss_forward(float* losses, float* logits, const float* x,
                                       const float* wte, const int32_t* targets, int N, int C,
                                       int V, int Vp) {
  if (!fused_lm_loss(logits, Vp)) {
    Backend::lm_head_loss_forward(losses, logits, x, wte, targets, N, C, V, Vp);
    return;
  }
  if (N == 0) return;
  // logits^T (Vp x N) = wte (Vp x C) . x^T (C x N), written in 16 bits.
  const void* wte16 = copies_.rounded(0, wte, size_t(Vp) * C);
  const void* x16 = copies_.rounded(1, x, size_t(N) * C);
  const bool bf16 = precision_ == MatmulPrecision::bf16;
  gemm(true, false, Vp, N, C, wte, C, x, C, 0.0f, logits, Vp, wte16, x16, 1.0f, logits);
  cuda::with_16_bit_type(bf16, [&](auto tag) {
    using E = decltype(tag);
    E* rows = reinterpret_cast<E*>(logits);
    if (tuning_.shared_lm_loss_rows && cuda::lm_loss::row_fits_shared(Vp)) {
      const auto kernel = lm_loss_rows<E, cuda::lm_loss::kShared>;
      static const bool allowed =
          (cuda::allow_dynamic_shared(kernel, cuda::lm_loss::kSharedRowBytesMax), true);
      (void)allowed;
      kernel<<<N, kThreads, cuda::lm_loss::shared_row_bytes(Vp)>>>(losses, rows, targets, V, Vp);
    } else if (row_fits_registers(Vp)) {
      lm_loss_rows<E, cuda::lm_loss::kRegisters><<<N, kThreads>>>(losses, rows, targets, V, Vp);
    } else {
      lm_loss_rows<E, cuda::lm_loss::kReread><<<N, kThreads>>>(losses, rows, targets, V, Vp);
    }
  });
  COHORT_CUDA_LAUNCHED();
}

void CudaBackend::lm_head_loss_backward(float* dx, float* dwte, float* logits, const float* x,
                                        const float* wte, const int32_t* targets, float dloss,
                                        int N, int C, int V, int Vp) {
  if (!fused_lm_loss(logits, Vp)) {
    Backend::lm_head_loss_backward(dx, dwte, logits, x, wte, targets, dloss, N, C, V, Vp);
    return;
  }
  const float alpha = dloss / (precision_ == MatmulPrecision::bf16 ? kStoreScale<__nv_bfloat16>
                                                                   : kStoreScale<__half>);
  const void* g16 = logits;  // the forward's (softmax - onehot) * kStoreScale, 16-bit
  // dx^T (C x N) = wte^T (C x Vp) . dlogits^T (Vp x N)
  gemm(false, false, C, N, Vp, wte, C, nullptr, Vp, 0.0f, dx, C, nullptr, g16, alpha,
       copies_.passed_to_write(dx, size_t(N) * C, layernorm_reads_16_bit_rows(C)));
  // dwte^T (C x Vp) += x^T (C x N) . dlogits (N x Vp)
  gemm(false, true, C, Vp, N, x, C, nullptr, Vp, 1.0f, dwte, C, nullptr, g16, alpha);
}

}  // namespace cohort
