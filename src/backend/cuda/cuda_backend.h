// CudaBackend: Backend on one NVIDIA GPU, fp32. Every pointer an op receives is device
// memory (cuda_memory.h allocates and copies). Matmuls go through cuBLAS; the other ops
// are this folder's kernels, one .cu per op family as on the CPU. Deterministic like
// the CPU backend: no float atomics; every reduction has a fixed order (a thread owns
// an output and walks its inputs in order, or a block reduces in a fixed tree).
//
// What is not here yet (issue 8): bf16 compute with fp32 master weights (cuBLASLt),
// fused flash-style attention (this attention stores the T x T probabilities, as the
// Backend interface asks), and the models' host-side steps (they still copy and sum
// activations on the host; see docs/gpu.md).
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/backend.h"

namespace cohort {

class CudaBackend final : public Backend {
 public:
  CudaBackend();  // device 0; throws cohort::Error without a device
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;
  const char* name() const override { return "cuda"; }

  void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int N,
                      int C, int OC) override;
  void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                       const float* inp, const float* weight, int N, int C, int OC) override;
  void lm_head_forward(float* logits, const float* x, const float* wte, int N, int C,
                       int Vp) override;
  void lm_head_backward(float* dx, float* dwte, const float* dlogits, const float* x,
                        const float* wte, int N, int C, int Vp) override;
  void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                         int B, int T, int C) override;
  void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B,
                          int T, int C) override;
  void layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                         const float* weight, const float* bias, int N, int C) override;
  void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                          const float* inp, const float* weight, const float* mean,
                          const float* rstd, int N, int C) override;
  void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH,
                         const DropoutKey& dropout) override;
  void attention_backward(float* dqkv, float* scratch, const float* dout, const float* qkv,
                          const float* att, int B, int T, int C, int NH,
                          const DropoutKey& dropout) override;
  void mha_forward(float* out, float* att, const float* q, const float* k, const float* v, int ldq,
                   int ldkv, int B, int Tq, int Tk, int C, int NH, bool causal,
                   const int32_t* key_len, const DropoutKey& dropout) override;
  void mha_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout,
                    const float* q, const float* k, const float* v, const float* att, int ldq,
                    int ldkv, int B, int Tq, int Tk, int C, int NH, bool causal,
                    const int32_t* key_len, const DropoutKey& dropout) override;
  void tanh_forward(float* out, const float* inp, size_t n) override;
  void tanh_backward(float* dinp, const float* out, const float* dout, size_t n) override;
  void gelu_forward(float* out, const float* inp, size_t n) override;
  void gelu_backward(float* dinp, const float* inp, const float* dout, size_t n) override;
  void add(float* out, const float* a, const float* b, size_t n) override;
  void accumulate(float* y, const float* x, size_t n) override;
  void dropout(float* x, int B, size_t n_per_sample, const DropoutKey& key) override;
  void softmax_cross_entropy_forward(float* losses, float* probs, const float* logits,
                                     const int32_t* targets, int N, int V, int Vp) override;
  void softmax_cross_entropy_backward(float* dlogits, const float* probs, const int32_t* targets,
                                      float dloss, int N, int V, int Vp) override;
  void masked_cross_entropy_forward(float* losses, float* probs, const float* logits,
                                    const int32_t* targets, int N, int V, int Vp,
                                    float smoothing) override;
  void masked_cross_entropy_backward(float* dlogits, const float* probs, const int32_t* targets,
                                     const float* row_scale, int N, int V, int Vp,
                                     float smoothing) override;
  double sum_squares(const float* x, size_t n) override;
  void scale(float* x, float s, size_t n) override;
  void adamw_update(float* param, const float* grad, float* m, float* v, size_t n,
                    const AdamWArgs& a) override;
  void sgd_update(float* param, const float* grad, float* momentum_buf, size_t n, float lr,
                  float momentum) override;

 private:
  void* cublas_ = nullptr;       // cublasHandle_t
  double* block_sums_ = nullptr; // sum_squares partials (device)
  size_t block_sums_size_ = 0;
};

namespace cuda {
int device_count();  // 0 without a device or a driver
}

}  // namespace cohort
