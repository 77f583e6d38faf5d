// GELU, tanh approximation (GPT-2's), and its derivative: one definition for the
// element-wise ops (cuda_elementwise.cu) and the MLP's 16-bit kernels (cuda_mlp.cuh), so
// both compute the same values.
#pragma once

#include <cmath>

#include "backend/cuda/cuda_warp.cuh"  // __device__ in the warp emulator's host build

namespace cohort::cuda {

constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kGeluCube = 0.044715f;

__device__ inline float gelu(float v) {
  return 0.5f * v * (1.0f + tanhf(kGeluScale * (v + kGeluCube * v * v * v)));
}

__device__ inline float gelu_grad(float v) {
  const float th = tanhf(kGeluScale * (v + kGeluCube * v * v * v));
  return 0.5f * (1.0f + th) +
         0.5f * v * (1.0f - th * th) * kGeluScale * (1.0f + 3.0f * kGeluCube * v * v);
}

}  // namespace cohort::cuda
