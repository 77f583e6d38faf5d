// Launches the tensor-core causal attention (cuda_flash_attention_tc.cuh: the algorithm,
// its layouts and its history) for the 16-bit precisions, at head sizes 32, 64 and 128
// (the forward's variants at 64 only; at the others its 64-row kernel runs). The forward
// rounds q, k and v to 16 bits once, into the caller's attention state, where
// the backward reads them (rounding them again cost 0.64 ms of a GPT-2 124M bf16 step on
// an H200, by ncu); the backward rounds dO into scratch, with D = rowsum(dO * O).
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_flash_attention_tc.cuh"
#include "backend/cuda/cuda_flash_attention_tc.h"

namespace cohort::cuda {

namespace {

using namespace tc_attention;

Shape shape_of(int B, int T, int C, int NH, const DropoutKey& dropout) {
  const float scale = 1.0f / std::sqrt(float(C / NH));
  return {B, T, C, NH, size_t(3) * C, scale, scale * kLog2e, dropout};
}

// Calls f with HS, C / NH as a compile-time constant (one tensor_core_attention_fits takes).
template <typename F>
void with_head_size(int C, int NH, F&& f) {
  switch (C / NH) {
    case 32:
      f(std::integral_constant<int, 32>{});
      return;
    case 64:
      f(std::integral_constant<int, 64>{});
      return;
    case 128:
      f(std::integral_constant<int, 128>{});
      return;
    default:
      throw Error(
          fmt::format("tensor-core attention: head size {} (C {} / {} heads) is not one of "
                      "32, 64, 128",
                      C / NH, C, NH));
  }
}

// The 16-bit copy of qkv in the attention state.
template <typename E>
void round_qkv(E* qkv16, const float* qkv, int B, int T, int C) {
  const size_t n_qkv = size_t(B) * T * 3 * C;
  round_rows<<<blocks_for(n_qkv / 4, 256), 256>>>(qkv16, qkv, n_qkv);
  COHORT_CUDA_LAUNCHED();
}

// Without dropout the kernels carry no dropout code: it costs registers (dK/dV went from
// 242 to 255 with a spill, dQ from 167 to 184, by ptxas) and so occupancy.
template <int HS, typename E, bool kDropout>
void launch_forward(float* out, E* out16, float* lse, const E* qkv16, const Shape& s,
                    AttentionForward kernel) {
  static const bool ready =
      (allow_dynamic_shared(tc_forward<HS, E, kDropout>, kForwardSharedOf<HS>),
       allow_dynamic_shared(tc_forward_wide<E, false>, kWideForwardShared),
       allow_dynamic_shared(tc_forward_pipelined<E>, kForwardPipelinedShared),
       allow_dynamic_shared(tc_forward_pipelined<E, kPolyExpBlocks>, kForwardPipelinedShared),
       true);
  (void)ready;
  const int C = s.C;
  const E *q = qkv16, *k = qkv16 + C, *v = qkv16 + 2 * C;
  // With dropout the wide and pipelined kernels would spill registers (their comments);
  // they are written for head size 64.
  if (HS != kHS || kDropout) kernel = AttentionForward::rows64;
  if (kernel == AttentionForward::rows128) {
    const dim3 grid = grid_of(s, 2 * kTile);
    tc_forward_wide<E, false><<<grid, kThreads, kWideForwardShared>>>(out, out16, lse, q, k, v, s);
  } else if (kernel == AttentionForward::pipelined) {
    const dim3 grid = grid_of(s, kTile);
    tc_forward_pipelined<E>
        <<<grid, kThreads, kForwardPipelinedShared>>>(out, out16, lse, q, k, v, s);
  } else if (kernel == AttentionForward::pipelined_poly) {
    const dim3 grid = grid_of(s, kTile);
    tc_forward_pipelined<E, kPolyExpBlocks>
        <<<grid, kThreads, kForwardPipelinedShared>>>(out, out16, lse, q, k, v, s);
  } else {
    const dim3 grid = grid_of(s, kTile);
    constexpr size_t kShared = kForwardSharedOf<HS>;
    tc_forward<HS, E, kDropout><<<grid, kThreads, kShared>>>(out, out16, lse, q, k, v, s);
  }
  COHORT_CUDA_LAUNCHED();
}

// D: the gradients' type, float or E.
template <int HS, typename E, bool kDropout, typename D>
void launch_backward(D* dqkv, const E* qkv16, const E* dout16, const float* lse, const float* dsum,
                     const Shape& s, bool split_dkv) {
  constexpr size_t kDq = kDqSharedOf<HS>, kDkv = kDkvSharedOf<HS>;
  static const bool ready = (allow_dynamic_shared(tc_backward_dq<HS, E, kDropout, D>, kDq),
                             allow_dynamic_shared(tc_backward_dkv<HS, E, kDropout, 1, D>, kDkv),
                             allow_dynamic_shared(tc_backward_dkv<HS, E, false, 2, D>, kDkv), true);
  (void)ready;
  const dim3 grid = grid_of(s, kTile);
  const int C = s.C;
  const E *q = qkv16, *k = qkv16 + C, *v = qkv16 + 2 * C;
  tc_backward_dq<HS, E, kDropout, D><<<grid, kThreads, kDq>>>(dqkv, dout16, q, k, v, lse, dsum, s);
  COHORT_CUDA_LAUNCHED();
  D *dk = dqkv + C, *dv = dqkv + 2 * C;
  if (split_dkv && !kDropout)  // with dropout's code the 168-register budget would spill
    tc_backward_dkv<HS, E, false, 2, D>
        <<<grid, kThreads, kDkv>>>(dk, dv, dout16, q, k, v, lse, dsum, s);
  else
    tc_backward_dkv<HS, E, kDropout, 1, D>
        <<<grid, kThreads, kDkv>>>(dk, dv, dout16, q, k, v, lse, dsum, s);
  COHORT_CUDA_LAUNCHED();
}

template <typename E>
void forward(float* out, E* out16, float* lse, const float* qkv, E* qkv16, int B, int T, int C,
             int NH, const DropoutKey& dropout, AttentionForward kernel) {
  if (qkv) round_qkv(qkv16, qkv, B, T, C);
  const Shape s = shape_of(B, T, C, NH, dropout);
  with_head_size(C, NH, [&](auto hs) {
    constexpr int HS = decltype(hs)::value;
    if (dropout.active())
      launch_forward<HS, E, true>(out, out16, lse, qkv16, s, kernel);
    else
      launch_forward<HS, E, false>(out, out16, lse, qkv16, s, kernel);
  });
}

template <typename E, typename D>
void backward(D* dqkv, const TensorCoreBackward& io, int B, int T, int C, int NH,
              const DropoutKey& dropout, bool split_dkv) {
  const Shape s = shape_of(B, T, C, NH, dropout);
  auto* dout16 = static_cast<E*>(io.dout16);
  const dim3 grid(unsigned(B * T)), block(unsigned((C / 4 + 31) / 32 * 32));
  const auto* qkv16 = static_cast<const E*>(io.qkv16);
  with_head_size(C, NH, [&](auto hs) {
    constexpr int HS = decltype(hs)::value;
    if (io.dout)
      prepare_dout<HS, E, float><<<grid, block>>>(dout16, io.dsum, io.dout, io.out, s);
    else
      prepare_dout<HS, E, E>
          <<<grid, block>>>(dout16, io.dsum, dout16, static_cast<const E*>(io.out16), s);
    COHORT_CUDA_LAUNCHED();
    if (dropout.active())
      launch_backward<HS, E, true>(dqkv, qkv16, dout16, io.lse, io.dsum, s, split_dkv);
    else
      launch_backward<HS, E, false>(dqkv, qkv16, dout16, io.lse, io.dsum, s, split_dkv);
  });
}

}  // namespace

bool tensor_core_attention_fits(int C, int NH, const float* qkv, const float* att,
                                const float* dout, const float* out) {
  auto aligned = [](const float* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  return C % NH == 0 && takes_head_size(C / NH) && C / 4 <= 1024 && aligned(qkv) && aligned(att) &&
         aligned(dout) && aligned(out);
}

void tensor_core_attention_round_qkv(bool bf16, void* qkv16, const float* qkv, int B, int T,
                                     int C) {
  with_16_bit_type(bf16, [&](auto tag) {
    using E = decltype(tag);
    round_qkv(static_cast<E*>(qkv16), qkv, B, T, C);
  });
}

size_t tensor_core_attention_qkv16_bytes(int B, int T, int C) { return size_t(B) * T * 3 * C * 2; }

size_t tensor_core_attention_scratch_bytes(int B, int T, int C) { return size_t(B) * T * C * 2; }

void tensor_core_attention_forward(bool bf16, float* out, void* out16, float* lse, const float* qkv,
                                   void* qkv16, int B, int T, int C, int NH,
                                   const DropoutKey& dropout, AttentionForward kernel) {
  with_16_bit_type(bf16, [&](auto tag) {
    using E = decltype(tag);
    forward<E>(out, static_cast<E*>(out16), lse, qkv, static_cast<E*>(qkv16), B, T, C, NH, dropout,
               kernel);
  });
}

void tensor_core_attention_backward(bool bf16, const TensorCoreBackward& io, int B, int T, int C,
                                    int NH, const DropoutKey& dropout, bool split_dkv) {
  with_16_bit_type(bf16, [&](auto tag) {
    using E = decltype(tag);
    if (io.dqkv16)
      backward<E>(static_cast<E*>(io.dqkv16), io, B, T, C, NH, dropout, split_dkv);
    else
      backward<E>(io.dqkv, io, B, T, C, NH, dropout, split_dkv);
  });
}

}  // namespace cohort::cuda
