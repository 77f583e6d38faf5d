// A transformer block's MLP in bf16 / fp16 with its hidden activations in 16 bits, by one
// of two routes.
//
// cuBLASLt's GELU epilogues (the default where cuBLASLt offers them, as on sm_90): the fc
// GEMM adds the bias, keeps the sum (the GELU's input) in 16 bits and writes the GELU's
// output in 16 bits; the backward's GEMM that computes the GELU output's gradient
// multiplies it by gelu' of that kept input as it writes it, in 16 bits. No GELU kernel
// runs, and the fc GEMM writes no fp32 hidden state: by run 1's ncu figures (docs/gpu.md)
// the GELU kernels took 5.3% of a GPT-2 124M bf16 step and read or wrote about 1 GB a
// layer. What changes numerically is what PyTorch's autocast does too: the fc bias is
// added in 16 bits, and gelu' takes the GELU's input rounded to 16 bits.
//
// The GELU kernels (cuda_mlp.cuh), where the epilogues are off or not offered: the fc GEMM
// writes the fp32 pre-activation; one kernel writes the GELU's output in 16 bits, another
// its input gradient in 16 bits. The GEMMs read those without rounding copies, so they
// see what the separate ops would round; the fc bias gradient sums the 16-bit gradient,
// as autocast does.
//
// hidden (N x 2H floats) holds: the pre-activation (fp32, N x H floats; or 16-bit, in the
// first N x H / 2), then the GELU's output in 16 bits, then room for its gradient in 16
// bits.
#include <fmt/format.h>

#include <algorithm>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_mlp.cuh"

namespace cohort {

namespace {

constexpr unsigned kThreads = 256;

unsigned blocks_for_fours(size_t n) { return cuda::blocks_for(n / 4, kThreads); }

}  // namespace

std::string CudaBackend::mlp_route() const {
  return fmt::format("forward: {}; backward: {}", mlp_forward_route_, mlp_backward_route_);
}

bool CudaBackend::mlp_in_16_bits(const float* hidden, size_t n) const {
  // Four values a thread; the 16-bit gradient starts 1.5 n floats in, so n % 8 keeps it
  // 8-byte aligned.
  return precision_ != MatmulPrecision::fp32 && n % 8 == 0 &&
         reinterpret_cast<uintptr_t>(hidden) % 16 == 0;
}

void CudaBackend::mlp_forward(float* out, float* hidden, const float* inp, const float* w_fc,
                              const float* b_fc, const float* w_proj, const float* b_proj, int N,
                              int C, int H) {
  const size_t n = size_t(N) * H;
  if (!mlp_in_16_bits(hidden, n)) {
    Backend::mlp_forward(out, hidden, inp, w_fc, b_fc, w_proj, b_proj, N, C, H);
    return;
  }
  if (n == 0) return;
  void* act16 = hidden + n;
  hidden_pre16_.erase(std::remove(hidden_pre16_.begin(), hidden_pre16_.end(), hidden),
                      hidden_pre16_.end());
  // act^T (H x N) = gelu(aux), aux = W_fc^T (H x C) . inp^T (C x N) + b_fc, both 16-bit.
  // cuBLASLt wants the GELU input's row stride (H) a multiple of 8.
  if (tuning_.gelu_epilogues && b_fc && H % 8 == 0 &&
      lt_matmul(LtProduct{H, N, C, false, w_fc, nullptr, H, inp, nullptr, C, act16, H, true,
                          LtEpilogue::gelu_aux_bias, copies_.rounded(3, b_fc, size_t(H)), hidden,
                          H})) {
    hidden_pre16_.push_back(hidden);
    mlp_forward_route_ = "cuBLASLt GELU epilogue";
  } else {
    float* pre = hidden;
    linear_forward(pre, inp, w_fc, b_fc, N, C, H);
    cuda::with_16_bit_type(precision_ == MatmulPrecision::bf16, [&](auto tag) {
      cuda::mlp::gelu_to_16<<<blocks_for_fours(n), kThreads>>>(static_cast<decltype(tag)*>(act16),
                                                               pre, n);
    });
    COHORT_CUDA_LAUNCHED();
    mlp_forward_route_ = "GELU kernel";
  }
  linear_forward_impl(out, nullptr, act16, w_proj, b_proj, N, H, C);
}

void CudaBackend::mlp_backward(float* dinp, float* dw_fc, float* db_fc, float* dw_proj,
                               float* db_proj, const float* dout, const float* inp, float* hidden,
                               const float* w_fc, const float* w_proj, float* dhidden, int N, int C,
                               int H) {
  const size_t n = size_t(N) * H;
  if (!mlp_in_16_bits(hidden, n)) {
    Backend::mlp_backward(dinp, dw_fc, db_fc, dw_proj, db_proj, dout, inp, hidden, w_fc, w_proj,
                          dhidden, N, C, H);
    return;
  }
  if (n == 0) return;
  const void* act16 = hidden + n;
  void* dpre16 = hidden + n + n / 2;
  const bool bf16 = precision_ == MatmulPrecision::bf16;
  const bool dact_aligned = reinterpret_cast<uintptr_t>(dhidden) % 16 == 0;
  // dw_proj += act^T . dout; db_proj += colsum(dout), in the pass that rounds dout for the
  // three products that read it.
  const void* dout16 = linear_backward_impl(nullptr, dw_proj, db_proj, dout, nullptr, nullptr,
                                            act16, w_proj, N, H, C);
  // dpre^T (H x N) = gelu'(pre) * W_proj (H x C) . dout^T (C x N): in the product's
  // epilogue where the forward kept pre in 16 bits for it, else dact (dhidden, fp32) and
  // the kernel, reading pre as the forward kept it (fp32, or 16 bits when the forward
  // took its epilogue but the backward does not).
  const bool pre16 =
      std::find(hidden_pre16_.begin(), hidden_pre16_.end(), hidden) != hidden_pre16_.end();
  if (pre16 && tuning_.gelu_epilogues &&
      lt_matmul(LtProduct{H, N, C, true, w_proj, nullptr, C, dout, dout16, C, dpre16, H, true,
                          LtEpilogue::dgelu, nullptr, hidden, H})) {
    mlp_backward_route_ = "cuBLASLt DGELU epilogue";
  } else {
    gemm(true, false, H, N, C, w_proj, C, dout, C, 0.0f, dhidden, H, nullptr, dout16);
    cuda::with_16_bit_type(bf16, [&](auto tag) {
      using E = decltype(tag);
      if (pre16)
        cuda::mlp::gelu_grad_to_16<<<blocks_for_fours(n), kThreads>>>(
            static_cast<E*>(dpre16), reinterpret_cast<const E*>(hidden), dhidden, n, dact_aligned);
      else
        cuda::mlp::gelu_grad_to_16<<<blocks_for_fours(n), kThreads>>>(
            static_cast<E*>(dpre16), static_cast<const float*>(hidden), dhidden, n, dact_aligned);
    });
    COHORT_CUDA_LAUNCHED();
    mlp_backward_route_ =
        pre16 ? "GELU gradient kernel on the epilogue's 16-bit input" : "GELU gradient kernel";
  }
  // dinp = dpre . w_fc^T; dw_fc += inp^T . dpre; db_fc += colsum(dpre16)
  linear_backward_impl(dinp, dw_fc, db_fc, nullptr, dpre16, inp, nullptr, w_fc, N, C, H);
}

}  // namespace cohort
