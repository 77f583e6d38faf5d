// CudaBackend: Backend on one NVIDIA GPU. Every pointer an op receives is device
// memory (cuda_memory.h allocates and copies). Matmuls go through cuBLAS (and cuBLASLt
// for a 16-bit product whose epilogue adds a bias or computes the MLP's GELU); the other ops are
// this folder's kernels, one .cu per op family as on the CPU. Deterministic like the CPU backend:
// no float atomics; every reduction has a fixed order (a thread owns an output and walks its inputs
// in order, or a block reduces in a fixed tree).
//
// Matmul precision: fp32 (pedantic sgemm, no TF32), or bf16 / fp16 tensor-core GEMMs:
// both operands are rounded to the 16-bit type just before the product, which
// accumulates in fp32 and is written in fp32. Parameters (the fp32 master copy),
// optimizer state and every other activation stay fp32 (docs/gpu.md says what that costs
// against a full bf16 activation path, which is not built).
//
// The class holds the ops; its parts live apart: the choices between variants of the same
// ops (cuda_tuning.h), the 16-bit copies that the caching hints keep (cuda_half_copies.h)
// and the cuBLASLt plumbing (cuda_lt_matmul.h).
//
// The causal attention of rows of one length (the GPT's) is flash-style: on tensor cores in bf16 /
// fp16 at head sizes 32, 64 and 128 (cuda_flash_attention_tc.cu), else fp32 on CUDA cores
// (cuda_flash_attention.cu); no T x T buffer either way. The general mha_* ops (encoder,
// cross-attention) still store probabilities.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_flash_attention_tc.h"
#include "backend/cuda/cuda_half_copies.h"
#include "backend/cuda/cuda_lt_matmul.h"
#include "backend/cuda/cuda_memory.h"
#include "backend/cuda/cuda_tuning.h"

namespace cohort {

namespace cuda {
class CudnnAttention;
}

enum class MatmulPrecision { fp32, bf16, fp16 };
// "fp32" | "bf16" | "fp16"; throws cohort::Error naming the value otherwise.
MatmulPrecision parse_matmul_precision(const std::string& s);

class CudaBackend final : public Backend {
 public:
  // On GPU `device` (made current for this thread); throws cohort::Error without one.
  explicit CudaBackend(MatmulPrecision precision = MatmulPrecision::fp32, int device = 0);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;
  const char* name() const override { return "cuda"; }
  MemorySpace& memory() override { return memory_; }

  COHORT_BACKEND_OPS_OVERRIDE
  // One kernel: each row's sum is kept in registers for its LayerNorm.
  void add_layernorm_forward(float* residual, float* out, float* mean, float* rstd, const float* x,
                             const float* branch, const float* weight, const float* bias, int N,
                             int C) override;
  // In bf16 / fp16: 16-bit logits, and a kernel that leaves softmax - onehot for the
  // backward in their place (cuda_lm_head_loss.cu); in fp32, the separate ops.
  void lm_head_loss_forward(float* losses, float* logits, const float* x, const float* wte,
                            const int32_t* targets, int N, int C, int V, int Vp) override;
  void lm_head_loss_backward(float* dx, float* dwte, float* logits, const float* x,
                             const float* wte, const int32_t* targets, float dloss, int N, int C,
                             int V, int Vp) override;
  // In bf16 / fp16: the GELU in cuBLASLt's epilogues (or, where those are off or not
  // offered, in kernels), its output and gradient in 16 bits, read by the GEMMs as they
  // are (cuda_mlp.cu); in fp32, the separate ops.
  void mlp_forward(float* out, float* hidden, const float* inp, const float* w_fc,
                   const float* b_fc, const float* w_proj, const float* b_proj, int N, int C,
                   int H) override;
  void mlp_backward(float* dinp, float* dw_fc, float* db_fc, float* dw_proj, float* db_proj,
                    const float* dout, const float* inp, float* hidden, const float* w_fc,
                    const float* w_proj, float* dhidden, int N, int C, int H) override;
  // In bf16 / fp16: rounds the parameters once into a 16-bit copy that the GEMMs read
  // for any weight inside them, until the next update or their release.
  void parameters_updated(const float* params, size_t n) override;
  void parameters_released(const float* params) override;
  // One launch for every segment (cuda_optimizer.cu): a step's ~150 tensors of GPT-2
  // 124M were as many launches, most of them tiny.
  void adamw_update_segments(float* param, const float* grad, float* m, float* v, size_t n,
                             AdamWArgs a, const std::vector<AdamWSegment>& segments) override;
  // Written in 16 bits by the product that computes it (linear, mlp, attention branch
  // and LM head backwards), where the LayerNorm's row fits its kernel's registers.
  void pass_gradient(const float* g, size_t n) override;
  // Written in 16 bits by the linear layer that computes it (with its bias in cuBLASLt's
  // epilogue), where the LayerNorm's row fits its kernel's registers; the residual add
  // widens it as it reads it.
  void pass_branch(const float* y, size_t n) override;
  // The LayerNorm backward that updates it writes its 16-bit copy and column sums too,
  // where the row fits its kernel's registers.
  void hold_gradient(const float* g, size_t n) override;
  // Rounded at its first use, then reused until the next parameters_updated.
  void hold_input(const float* x, size_t n) override;
  // The same, and a LayerNorm computing x writes only the copy (and its statistics).
  void hold_product_input(const float* x, size_t n) override;
  // In bf16 / fp16 on the tensor-core route: q, k, v from the GEMM straight into the
  // attention state in 16 bits; qkv is not written.
  void qkv_attention_forward(float* out, float* att, float* qkv, const float* inp,
                             const float* w_qkv, const float* b_qkv, int B, int T, int C, int NH,
                             const DropoutKey& dropout) override;
  // In bf16 / fp16 on the tensor-core route: dO and q's, k's and v's gradients in 16
  // bits, each written by the op before the one that reads it (cuda_flash_attention.cu).
  void attention_branch_backward(float* dinp, float* dw_qkv, float* db_qkv, float* dw_proj,
                                 float* db_proj, float* dattn, float* dqkv, float* scratch,
                                 const float* dy, const float* qkv, const float* att,
                                 const float* out, const float* inp, const float* w_qkv,
                                 const float* w_proj, int B, int T, int C, int NH,
                                 const DropoutKey& dropout) override;
  // Half the separate ops' in bf16 / fp16 (16-bit logits), where the fused pair applies.
  size_t lm_head_loss_floats(size_t N, int Vp) const override;
  // In bf16 / fp16 at head sizes 32, 64 and 128 (the tensor-core route, which activations' 256-byte
  // alignment always lets it take).
  bool attention_backward_reads_state_only(int C, int NH) const override;
  // Flash-style causal attention: att holds each row's log-sum-exp.
  bool attention_stores_probabilities() const override;
  // In bf16 / fp16 at head sizes 32, 64 and 128, the log-sum-exps and then the forward's 16-bit q,
  // k, v.
  size_t attention_state_floats(int B, int T, int C, int NH) const override;

  MatmulPrecision precision() const { return precision_; }

  // Its choices between variants of the same ops (cuda_tuning.h): the benchmark and the
  // tests set them to compare.
  cuda::CudaTuning& tuning() { return tuning_; }
  const cuda::CudaTuning& tuning() const { return tuning_; }
  // The cuDNN plans built so far, each with its engine (empty if none).
  std::string cudnn_attention_notes() const;
  // The route the last such bias gradient took, for benchmarks and tests to report.
  const char* bias_gradient_route() const { return bias_gradient_route_; }
  // The routes the last 16-bit mlp_forward and mlp_backward took (cuBLASLt's epilogue or
  // the GELU kernel), for benchmarks and tests to report.
  std::string mlp_route() const;
  // What cuBLASLt refused so far (each product then took its unfused route); empty if
  // nothing.
  std::string lt_notes() const;

  // cuBLASLt's products (cuda_lt_matmul.h), named here for the ops that build them.
  using LtEpilogue = cuda::LtEpilogue;
  using LtProduct = cuda::LtProduct;

 private:
  // C (m x n, column-major, fp32) = alpha op(A) op(B) + beta C at this precision.
  // a16 / b16: A or B already rounded (rounded_once), else gemm rounds it (16-bit only).
  // c16 (16-bit only, beta 0): C written there in the 16-bit type instead.
  void gemm(bool trans_a, bool trans_b, int m, int n, int k, const float* A, int lda,
            const float* B, int ldb, float beta, float* C, int ldc, const void* a16 = nullptr,
            const void* b16 = nullptr, float alpha = 1.0f, void* c16 = nullptr);
  // Whether lm_head_loss_* take the 16-bit route for this shape and buffer.
  bool fused_lm_loss(const float* logits, int Vp) const;
  // Whether mlp_* keep the hidden activations in 16 bits (cuda_mlp.cu) for this buffer.
  bool mlp_in_16_bits(const float* hidden, size_t n) const;
  cuda::CudaTuning tuning_;
  const char* bias_gradient_route_ = "none yet";
  struct CudnnAttentionDeleter {
    void operator()(cuda::CudnnAttention* a) const;
  };
  std::unique_ptr<cuda::CudnnAttention, CudnnAttentionDeleter> cudnn_attention_;
  cuda::CudnnAttention& cudnn_attention();  // made at first use
  const char* mlp_forward_route_ = "none yet";
  const char* mlp_backward_route_ = "none yet";
  // The MLP hidden buffers whose forward kept the GELU's input in 16 bits (cuBLASLt's
  // aux) rather than in fp32: their backward reads it so.
  std::vector<const float*> hidden_pre16_;
  static bool layernorm_reads_16_bit_rows(int C);  // rows its kernels hold in registers
  // p in one cuBLASLt call (LtMatmul::run, its operands rounded here first); false where
  // that does not apply: fp32, an unaligned bias, or LtMatmul's refusal.
  bool lt_matmul(LtProduct p, const std::function<bool(void*)>& reference = {});
  // linear_forward / linear_backward, where inp16 (inp rounded), dout16 (dout rounded) may
  // be given instead of being rounded here; with dout16, dout may be null (the bias
  // gradient then sums dout16).
  void linear_forward_impl(float* out, const float* inp, const void* inp16, const float* weight,
                           const float* bias, int N, int C, int OC);
  // linear_backward_impl returns the 16-bit dout its products read (null in fp32).
  const void* linear_backward_impl(float* dinp, float* dweight, float* dbias, const float* dout,
                                   const void* dout16, const float* inp, const void* inp16,
                                   const float* weight, int N, int C, int OC);
  cuda::LtMatmul lt_;
  // x rounded into slot 2, for an op whose two products share x; nullptr in fp32.
  const void* rounded_once(const float* x, size_t n);

  MatmulPrecision precision_;
  cuda::HalfCopies copies_;  // the 16-bit copies the caching hints keep (bf16 / fp16)
  cuda::DeviceMemory memory_;
  // Per-row-group column sums of the bias and layernorm gradients (cuda_reduce.cuh).
  float* column_partials(size_t n);
  cuda::DeviceBuffer column_partials_;
  // adamw_update_segments' table on the device (begins, then decays), and what it holds.
  cuda::DeviceBuffer segment_table_;
  std::vector<AdamWSegment> uploaded_segments_;
  cuda::DeviceBuffer token_sort_;  // embedding backward's sorted (token, position) pairs
  // The tensor-core attention backward's 16-bit dO (grown once).
  void* attention_scratch(int B, int T, int C);
  cuda::DeviceBuffer attention16_;
  cuda::DeviceBuffer row_dot_;  // flash attention backward's rowsum(dO * O), grown once
  float* row_dot(size_t rows);
  void tensor_core_attention_forward(float* out, float* att, const float* qkv, void* qkv16, int B,
                                     int T, int C, int NH, const DropoutKey& dropout);
  bool tensor_core_attention_backward(cuda::TensorCoreBackward io, const float* qkv,
                                      const float* att, int B, int T, int C, int NH,
                                      const DropoutKey& dropout);
  void* cublas_ = nullptr;  // cublasHandle_t
  cuda::DeviceBuffer cublas_workspace_;
  double* block_sums_ = nullptr;  // sum_squares partials (device)
  size_t block_sums_size_ = 0;
};

namespace cuda {
int device_count();  // 0 without a device or a driver
// The current device as "PCI-bus-id on hostname": two ranks with the same one share a GPU.
std::string device_identity();
}  // namespace cuda

}  // namespace cohort
