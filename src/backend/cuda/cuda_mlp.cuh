// The MLP's 16-bit GELU kernels (cuda_mlp.cu launches them; what they save and why:
// there). tests/backend/mlp_emulated_test.cc runs them on the CPU. Four values a thread:
// fp32 pre 16-byte aligned, 16-bit values 8-byte aligned, n a multiple of 4; dact may sit
// anywhere (the caller's gradient buffer) and is read in one 16-byte load where aligned.
#pragma once

#include <cstddef>

#include "backend/cuda/cuda_gelu.cuh"
#include "backend/cuda/cuda_half.cuh"
#include "backend/cuda/cuda_warp.cuh"

namespace cohort::cuda::mlp {

// act[i] = round16(gelu(pre[i])): what the projection's GEMM would round it to.
template <typename E>
__global__ void gelu_to_16(E* act, const float* pre, size_t n) {
  const size_t i = (size_t(blockIdx.x) * blockDim.x + threadIdx.x) * 4;
  if (i >= n) return;
  const float4 x = load_float4(pre + i);
  *reinterpret_cast<Four16<E>*>(act + i) = Four16<E>{
      {round16<E>(gelu(x.x)), round16<E>(gelu(x.y)), round16<E>(gelu(x.z)), round16<E>(gelu(x.w))}};
}

// Four pre-activations from 16-byte aligned fp32, or 8-byte aligned 16-bit (what
// cuBLASLt's GELU epilogue kept: cuda_mlp.cu), as floats.
__device__ inline float4 load_four(const float* p) { return load_float4(p); }
template <typename E>
__device__ float4 load_four(const E* p) {
  const Four16<E> v = *reinterpret_cast<const Four16<E>*>(p);
  return make_float4(float(v.v[0]), float(v.v[1]), float(v.v[2]), float(v.v[3]));
}

// dpre[i] = round16(gelu'(pre[i]) * dact[i]): what the fc layer's backward GEMMs would
// round the gradient to. pre is fp32 (P = float) or the 16-bit type.
template <typename E, typename P = float>
__global__ void gelu_grad_to_16(E* dpre, const P* pre, const float* dact, size_t n,
                                bool dact_aligned) {
  const size_t i = (size_t(blockIdx.x) * blockDim.x + threadIdx.x) * 4;
  if (i >= n) return;
  const float4 x = load_four(pre + i);
  const float4 d = dact_aligned ? load_float4(dact + i)
                                : make_float4(dact[i], dact[i + 1], dact[i + 2], dact[i + 3]);
  *reinterpret_cast<Four16<E>*>(dpre + i) =
      Four16<E>{{round16<E>(gelu_grad(x.x) * d.x), round16<E>(gelu_grad(x.y) * d.y),
                 round16<E>(gelu_grad(x.z) * d.z), round16<E>(gelu_grad(x.w) * d.w)}};
}

}  // namespace cohort::cuda::mlp
