// LtMatmul: the CUDA backend's cuBLASLt plumbing (cuda_lt_matmul.cu says what its
// epilogues fuse and how an algorithm is chosen): the handle, its workspace, the chosen
// algorithm per shape, alignment and epilogue, and what cuBLASLt refused. A host header.
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace cohort::cuda {

// What a cuBLASLt epilogue does after D = op(A) . B.
enum class LtEpilogue {
  none,           // D = alpha op(A) op(B) + beta D (a plain GEMM, measured: CudaBackend::gemm)
  bias,           // D += bias per row
  gelu_aux_bias,  // aux = D + bias per row; D = gelu(aux)
  dgelu,          // D *= gelu'(aux)
  bgrada,         // bias (written, m values) = op(A)'s row sums over k; D as none
};

// One product, column-major: D (m x n) = op(A) (m x k) . B (k x n), A and B in the
// 16-bit type (a16 / b16 if already rounded, else rounded from a32 / b32 by the backend
// before run()), D in fp32 or (d16) the 16-bit type; bias (m values: read, or with bgrada
// written) and aux (m x n, row stride ld_aux) in D's type.
struct LtProduct {
  int m, n, k;
  bool trans_a;  // A holds op(A)^T: k x m
  const float* a32;
  const void* a16;
  int lda;
  const float* b32;
  const void* b16;
  int ldb;
  void* d;
  int ldd;
  bool d16;
  LtEpilogue epilogue;
  const void* bias = nullptr;
  void* aux = nullptr;
  int ld_aux = 0;
  bool trans_b = false;             // B holds op(B)^T: n x k (epilogue none or bgrada)
  float alpha = 1.0f, beta = 0.0f;  // beta: D read first (fp32 D, epilogue none or bgrada)
};

class LtMatmul {
 public:
  LtMatmul();
  ~LtMatmul();
  LtMatmul(const LtMatmul&) = delete;
  LtMatmul& operator=(const LtMatmul&) = delete;

  // p in one cuBLASLt call, its operands in 16 bits (bf16 or fp16); false, having done
  // nothing, where that does not apply: no algorithm for the shape and epilogue, or one
  // refused. measured (CudaTuning::measured_lt_algorithms): each shape's algorithm is the
  // fastest of the candidates with the reference's bits, timed at its first call.
  // reference (measured mode only): the caller's own route for p, run into a given D and
  // telling whether it ran; cuBLASLt's candidates must then give its bits and beat its
  // time, else run returns false for the caller to take that route.
  bool run(LtProduct p, bool bf16, bool measured, const std::function<bool(void*)>& reference = {});
  // What cuBLASLt refused or measuring found so far; empty if nothing.
  std::string notes() const;

 private:
  struct State;  // the handle, workspace and chosen algorithms, made at the first run
  std::unique_ptr<State> state_;
};

}  // namespace cohort::cuda
