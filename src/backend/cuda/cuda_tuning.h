// CudaTuning: the CUDA backend's choices between variants of the same ops, which kernel or
// library route each takes. The defaults are what the GPU measurements chose
// (docs/gpu.md); the GPU benchmark's flags (bench/gpu/gpt2_cohort.cc) and the tests set
// the others to compare. Variants not yet timed on a GPU stay until one decides them.
#pragma once

#include "backend/cuda/cuda_flash_attention_tc.h"  // AttentionForward

namespace cohort::cuda {

struct CudaTuning {
  // Whether the 16-bit MLP fuses its GELU into cuBLASLt's epilogues (cuda_mlp.cu), where
  // this cuBLASLt offers them for the shape. Off: the GELU kernels.
  bool gelu_epilogues = true;
  // Whether pass_gradient and hold_gradient take effect; off, the LayerNorms' gradients
  // stay fp32 between ops, for the benchmark to compare.
  bool gradients_16_bit = true;
  // Whether pass_branch takes effect; off, the residual branches' outputs stay fp32, for
  // the benchmark to compare.
  bool branches_16_bit = true;
  // Which kernel the tensor-core attention's forward takes without dropout
  // (cuda_flash_attention_tc.h; the same bits each but pipelined_poly's); the benchmark's
  // --attention-forward 64, pipelined and pipelined-poly take the others to compare.
  // AttentionForward::cudnn: cuDNN's fused attention instead, where it applies (no dropout).
  AttentionForward attention_forward = AttentionForward::rows128;
  // Whether the tensor-core route's backward is cuDNN's fused attention backward
  // (cuda_cudnn_attention.h: deterministic, other bits) instead of the kernels, where it
  // applies: no dropout, dO and the gradients in 16 bits (attention_branch_backward); the
  // benchmark's --attention-backward cudnn. cudnn_backward_samples: samples a call
  // (CudnnAttention::use_backward_samples; 0: the batch).
  bool cudnn_attention_backward = false;
  int cudnn_backward_samples = 0;
  // Whether the dK/dV kernel takes each query tile in two parts (three blocks a
  // multiprocessor) or one (two); the same bits either way. The benchmark's
  // --attention-dkv-parts 1 turns it off to compare.
  bool split_attention_dkv = true;
  // Whether the fused LM-head loss keeps each row in shared memory between its passes
  // (two blocks a multiprocessor) or in registers (one); the same bits either way (1.016x
  // the tokens/s of GPT-2 124M bf16 on an H200); the benchmark's --lm-loss-rows registers.
  bool shared_lm_loss_rows = true;
  // How the 16-bit products get their algorithm: cuBLASLt's heuristic's first for the
  // epilogue products and cublasGemmEx's own for the plain GEMMs, or, measured, the
  // fastest of that and cuBLASLt's first eight candidates whose output on the call's own
  // operands has its bits (so results do not depend on timing noise), each shape measured
  // once at its first call; CudaBackend::lt_notes() then tells what the measurement found.
  // The benchmark's --lt-algorithms measured.
  bool measured_lt_algorithms = false;
  // Where a 16-bit linear backward sums its bias gradient from a 16-bit output gradient
  // (the qkv and MLP-input projections of a GPT): in a column-sum kernel over it, or in the
  // weight-gradient product's cuBLASLt BGRADA epilogue, which reduces the same operand as
  // the product reads it (the H200 ran the sums at 2.0 TB/s, about 0.95 ms of a GPT-2 124M
  // step). Opt-in until a GPU has timed it: the benchmark's --bias-gradients epilogue.
  // Where cuBLASLt offers no such product, the kernel's route.
  bool bias_gradient_epilogues = false;
};

}  // namespace cohort::cuda
