// The tensor-core causal attention of the 16-bit precisions (cuda_flash_attention_tc.cu).
// CudaBackend's attention ops call it for the shapes it fits and keep their fp32
// kernels (cuda_flash_attention.cu) for the rest. Pointers are device memory, laid out
// as those ops': qkv (B, T, 3C), out and dout (B, T, C), lse and dsum (B, NH, T).
#pragma once

#include <cstddef>

#include "backend/backend.h"

namespace cohort::cuda {

// Head sizes 32, 64 (GPT-2's) and 128, C <= 4096, and qkv, the state att (and dout
// and out, when given) 16-byte aligned, as activations are: the inputs are read four
// floats at a time, and the 16-bit q, k, v in the state by 16-byte copies. Without
// pointers: whether the shape fits.
bool tensor_core_attention_fits(int C, int NH, const float* qkv = nullptr,
                                const float* att = nullptr, const float* dout = nullptr,
                                const float* out = nullptr);

// qkv (B, T, 3C) rounded into qkv16, as the forward does when given qkv.
void tensor_core_attention_round_qkv(bool bf16, void* qkv16, const float* qkv, int B, int T, int C);

// Bytes of qkv in 16 bits (B*T*3C values), which the forward writes for the backward,
// and of dout in 16 bits (B*T*C), the backward's scratch.
size_t tensor_core_attention_qkv16_bytes(int B, int T, int C);
size_t tensor_core_attention_scratch_bytes(int B, int T, int C);

// The forward's kernel (cuda_flash_attention_tc.cuh), without dropout; the same bits
// each but pipelined_poly's. With dropout, always rows64.
enum class AttentionForward {
  rows64,     // tc_forward: 64 query rows a block
  rows128,    // tc_forward_wide: 128, two 16-row slices a warp
  pipelined,  // tc_forward_pipelined: 64, each key tile's scores beside the last's softmax
  // pipelined, a quarter of the exponentials by a polynomial on the FMA pipe (other bits:
  // each probability within 2.3e-7 of ex2's)
  pipelined_poly,
  // cuDNN's fused attention (cuda_cudnn_attention.h), which CudaBackend runs in place of
  // these kernels (other bits); tensor_core_attention_forward takes it as rows64.
  cudnn,
};

// bf16 true: bfloat16 tiles; false: fp16. dropout: on the probabilities, the CPU's masks.
// qkv16 (16-byte aligned) receives qkv in 16 bits for the backward. kernel: which
// forward, above.
// out16 (4-byte aligned, or null): the output rounded to 16 bits as well; out null: only
// that copy. qkv null: qkv16 already holds q, k, v in 16 bits (a GEMM wrote them there).
void tensor_core_attention_forward(bool bf16, float* out, void* out16, float* lse, const float* qkv,
                                   void* qkv16, int B, int T, int C, int NH,
                                   const DropoutKey& dropout, AttentionForward kernel);
// The backward's buffers (device memory).
// - dO in fp32 (dout; rounded into dout16, scratch; D from dout and out), or in 16 bits
//   (dout null: dout16 holds it, as the GEMM before wrote it; D from it and out16, the
//   forward's output in 16 bits), each (B, T, C).
// - The gradients to dqkv, or where dqkv16 is given (4-byte aligned) to it instead,
//   rounded to 16 bits as they are stored (the bits of dqkv's values rounded); written,
//   not accumulated.
// - qkv16 and lse are the forward's; dsum (B, NH, T) is scratch: rowsum(dO * O).
struct TensorCoreBackward {
  float* dqkv = nullptr;
  void* dqkv16 = nullptr;
  const float* dout = nullptr;
  void* dout16 = nullptr;
  const float* out = nullptr;
  const void* out16 = nullptr;
  const void* qkv16 = nullptr;
  const float* lse = nullptr;
  float* dsum = nullptr;
};
// split_dkv (without dropout): the dK/dV kernel takes each query tile in two parts, at
// three blocks a multiprocessor instead of two; the same bits either way.
void tensor_core_attention_backward(bool bf16, const TensorCoreBackward& io, int B, int T, int C,
                                    int NH, const DropoutKey& dropout, bool split_dkv);

}  // namespace cohort::cuda
