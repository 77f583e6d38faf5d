// AdamW's device code for a step's segments in one launch (cuda_optimizer.cu launches
// it; tests/backend/adamw_emulated_test.cc runs it on the CPU), and the per-element update
// both AdamW kernels share.
#pragma once

#include <cmath>
#include <cstddef>
#include <type_traits>

#include "backend/backend.h"
#include "backend/cuda/cuda_half.cuh"
#include "backend/cuda/cuda_warp.cuh"

namespace cohort::cuda::adamw {

// The decoupled weight decay's factor on a parameter, 1 - lr * weight_decay: one
// definition for both kernels, so both compile it alike (the same bits).
__device__ inline float decay_factor(float lr, float weight_decay) {
  return 1.0f - lr * weight_decay;
}

// One parameter's AdamW update (PyTorch's formula, as cpu_optimizer.cc), in place.
__device__ inline void adamw_one(float& p, float g, float& m, float& v, float decay,
                                 const Backend::AdamWArgs& a) {
  g *= a.grad_scale;
  const float step_size = a.lr / a.bias_correction1;
  const float bc2_sqrt = sqrtf(a.bias_correction2);
  m = a.beta1 * m + (1.0f - a.beta1) * g;
  v = a.beta2 * v + (1.0f - a.beta2) * g * g;
  p = p * decay - step_size * m / (sqrtf(v) / bc2_sqrt + a.eps);
}

// A step's segments in one launch: four consecutive elements a thread (16-byte loads and
// stores where all four arrays allow), each element's weight decay that of the segment
// holding it, found by a binary search of the block's shared copy of the table. The same
// arithmetic per element as adamw_k, so the same bits. E, a 16-bit type (void: none):
// each updated parameter is also rounded into p16, the compute copy the products read
// (CudaBackend::parameters_updated would otherwise round all of them again before the
// next forward: a pass over 124M floats a GPT-2 step).
constexpr int kMaxSegments = 1024;

template <typename E = void>
__global__ void adamw_segments_k(float* p, const float* g, float* m, float* v, size_t n,
                                 Backend::AdamWArgs a, const size_t* begins, const float* decays,
                                 int segments, bool vector, E* p16 = nullptr) {
  constexpr bool kCopy = !std::is_void_v<E>;
  __shared__ size_t begin_of[kMaxSegments];
  __shared__ float decay_of[kMaxSegments];
  for (int s = threadIdx.x; s < segments; s += blockDim.x) {
    begin_of[s] = begins[s];
    decay_of[s] = decay_factor(a.lr, decays[s]);
  }
  __syncthreads();
  const size_t i = (size_t(blockIdx.x) * blockDim.x + threadIdx.x) * 4;
  if (i >= n) return;
  int lo = 0, hi = segments - 1;  // the last segment whose begin <= i
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (begin_of[mid] <= i)
      lo = mid;
    else
      hi = mid - 1;
  }
  if (vector && i + 4 <= n) {
    float4 pp = *reinterpret_cast<float4*>(p + i), mm = *reinterpret_cast<float4*>(m + i),
           vv = *reinterpret_cast<float4*>(v + i);
    const float4 gg = *reinterpret_cast<const float4*>(g + i);
    float* ps[4] = {&pp.x, &pp.y, &pp.z, &pp.w};
    float* ms[4] = {&mm.x, &mm.y, &mm.z, &mm.w};
    float* vs[4] = {&vv.x, &vv.y, &vv.z, &vv.w};
    const float gs[4] = {gg.x, gg.y, gg.z, gg.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      int s = lo;
      while (s + 1 < segments && begin_of[s + 1] <= i + k) ++s;
      adamw_one(*ps[k], gs[k], *ms[k], *vs[k], decay_of[s], a);
    }
    *reinterpret_cast<float4*>(p + i) = pp;
    *reinterpret_cast<float4*>(m + i) = mm;
    *reinterpret_cast<float4*>(v + i) = vv;
    if constexpr (kCopy) {
#pragma unroll
      for (int k = 0; k < 4; ++k) p16[i + k] = round16<E>(*ps[k]);
    }
    return;
  }
  for (size_t j = i; j < i + 4 && j < n; ++j) {
    while (lo + 1 < segments && begin_of[lo + 1] <= j) ++lo;
    adamw_one(p[j], g[j], m[j], v[j], decay_of[lo], a);
    if constexpr (kCopy) p16[j] = round16<E>(p[j]);
  }
}

}  // namespace cohort::cuda::adamw
