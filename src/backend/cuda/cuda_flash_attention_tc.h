// The tensor-core causal attention of the 16-bit precisions (cuda_flash_attention_tc.cu).
// CudaBackend's attention ops call it for the shapes it fits and keep their fp32
// kernels (cuda_flash_attention.cu) for the rest. Pointers are device memory, laid out
// as those ops': qkv (B, T, 3C), out and dout (B, T, C), lse and dsum (B, NH, T).
#pragma once

namespace cohort::cuda {

// Head size 64 (GPT-2's and most GPTs') and no attention dropout.
bool tensor_core_attention_fits(int C, int NH, float dropout);

// bf16 true: bfloat16 tiles; false: fp16.
void tensor_core_attention_forward(bool bf16, float* out, float* lse, const float* qkv, int B,
                                   int T, int C, int NH);
// dqkv is written, not accumulated; dsum = rowsum(dO * O) per (b, h, t).
void tensor_core_attention_backward(bool bf16, float* dqkv, const float* dout, const float* qkv,
                                    const float* lse, const float* dsum, int B, int T, int C,
                                    int NH);

}  // namespace cohort::cuda
