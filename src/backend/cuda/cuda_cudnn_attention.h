// The GPT's causal attention by cuDNN's fused flash attention (cudnn_attention_graph.h's
// graphs through cuda_cudnn.h), on the tensor-core route's buffers
// (cuda_flash_attention_tc.h), for CudaBackend to take instead of its own kernels: the
// forward, the backward, or both. Each keeps the log-sum-exps in those kernels' base-2
// units, so either direction pairs with either route of the other. Without dropout only
// (cuDNN's dropout masks are not the CPU's); other bits than the kernels'. One plan per
// shape, built at its first call, when cuDNN compiles its kernels (seconds): meant for
// training's fixed shapes, not for generation's growing ones.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "backend/cuda/cuda_cudnn.h"
#include "backend/cuda/cuda_memory.h"

namespace cohort::cuda {

class CudnnAttention {
 public:
  // qkv16 (B, T, 3C) and the output out16 (B, T, C) in the 16-bit type (bf16 true:
  // bfloat16, else fp16), 16-byte aligned; out (or null): the output widened to fp32 as
  // well; lse (B, NH, T) receives each row's log-sum-exp in base-2 units.
  void forward(bool bf16, float* out, void* out16, float* lse, const void* qkv16, int B, int T,
               int C, int NH);
  // dqkv16 (B, T, 3C) receives q's, k's and v's gradients in the 16-bit type (written, not
  // accumulated), from dout16 and out16 (B, T, C), qkv16 and the forward's lse.
  void backward(bool bf16, void* dqkv16, const void* dout16, const void* out16, const void* qkv16,
                const float* lse, int B, int T, int C, int NH);
  // How many samples each of backward()'s cuDNN calls takes (0: the whole batch, the
  // default). The deterministic backward writes and reads a dP workspace of
  // samples x NH x T^2 16-bit values (0.4 GB a layer for GPT-2 124M at B=16, T=1024, in
  // DRAM); a call of one or two samples keeps it to 25 or 50 MB, about the H200's 60 MB of
  // L2, at the cost of smaller grids.
  void use_backward_samples(int samples) { backward_samples_ = samples; }
  // Whether backward() takes sequences of length T: cuDNN 9.15 and earlier compute the
  // backward wrongly where T is not a multiple of 128 without a padding mask (which
  // cudnn-frontend adds for them), so those take the kernels.
  static bool backward_takes(int T);
  // Each plan built so far: direction, shape, and CudnnPlan::description().
  std::string notes() const;

 private:
  using Key = std::tuple<bool, bool, int, int, int, int>;  // backward, bf16, B, T, C, NH
  const CudnnPlan& plan(const Key& key);
  void* workspace(size_t bytes);
  std::map<Key, std::unique_ptr<CudnnPlan>> plans_;
  DeviceBuffer workspace_;
  DeviceBuffer stats_;     // the backward's natural-log log-sum-exps
  DeviceBuffer row_dots_;  // the backward's rowsum(dO * O)
  int backward_samples_ = 0;
};

}  // namespace cohort::cuda
