// The CUDA backend's flash-style causal attention (cuda_flash_attention.cu) written as
// plain loops, row by row in the kernels' order of operations: the online softmax over
// keys with q pre-scaled, the row log-sum-exp kept instead of the probabilities, and a
// backward that recomputes them with D = rowsum(dO * O). GuardedBackend runs it on the
// CPU, so the GPT fixture checks the algorithm and the model's LSE-mode plumbing where
// no GPU is at hand. Slow (scalar loops): tests only.
#pragma once

#include "backend/backend.h"

namespace cohort::testing {

// out (B,T,C); lse (B,NH,T).
void flash_attention_forward(float* out, float* lse, const float* qkv, int B, int T, int C, int NH,
                             const DropoutKey& dropout);
// dqkv (B,T,3C) overwritten, from the forward's lse and out.
void flash_attention_backward(float* dqkv, const float* dout, const float* qkv, const float* lse,
                              const float* out, int B, int T, int C, int NH,
                              const DropoutKey& dropout);

}  // namespace cohort::testing
