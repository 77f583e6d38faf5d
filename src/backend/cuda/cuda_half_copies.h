// HalfCopies: the CUDA backend's 16-bit copies in bf16 / fp16, what backend.h's caching
// hints let it keep between ops: the parameters rounded once a step (parameters_updated),
// held activations' copies (hold_input, hold_product_input), gradients and branches that
// a product stores in 16 bits for the LayerNorm that reads them (pass_gradient,
// pass_branch), the held residual gradient with its copy and column sums
// (hold_gradient), and scratch for operands rounded at their use. Pointer-keyed: each
// entry is found by the fp32 buffer it stands for. The CudaBackend decides when each
// applies (never in fp32); its ops ask here for the copy to read or write.
#pragma once

#include <cstddef>
#include <vector>

#include "backend/cuda/cuda_memory.h"

namespace cohort::cuda {

class HalfCopies {
 public:
  explicit HalfCopies(bool bf16) : bf16_(bf16) {}

  // Parameters [params, params + n) hold new values: rounded into their copy unless the
  // optimizer wrote it as it updated them (params_copy_to_update). Held inputs, passed
  // buffers and the held gradient of the last step are let go (held inputs keep their
  // buffers for being held again).
  void parameters_updated(const float* params, size_t n);
  void parameters_released(const float* params);
  // The optimizer is about to update exactly the parameters' range [param, param + n):
  // their copy for it to write as it goes (marked fresh), else null.
  void* params_copy_to_update(const float* param, size_t n);

  void hold(const float* x, size_t n, bool products_only);
  // For a kernel about to compute x: the held copy of x (n values) for it to write as
  // well, then marked rounded; null where x is not held with n values. *products_only
  // (when given) says whether the kernel may leave x itself unwritten.
  void* held_copy_to_write(const float* x, size_t n, bool* products_only = nullptr);
  bool held_unwritten(const float* x) const;  // x held, and left unwritten for its copy

  void pass(const float* g, size_t n);  // g joins the passed buffers, not yet written
  // For a product about to write g (n values): where g is passed and rows_fit (the
  // LayerNorm kernels read its rows in 16 bits), the 16-bit destination (g's own memory),
  // marked written; else null.
  void* passed_to_write(float* g, size_t n, bool rows_fit);
  // For a LayerNorm kernel about to read g (n values): g's memory where the product
  // stored it in 16 bits, else null; either way g is no longer passed.
  const void* passed_to_read(const float* g, size_t n);

  struct HeldGradient {            // hold_gradient's buffer, and what its LayerNorm derived from it
    const float* held = nullptr;   // until the LayerNorm backward that updates it
    const float* ready = nullptr;  // copy and partials hold its values, until a product reads them
    size_t n = 0;
    int groups = 0;  // rows of partials (C columns each)
    DeviceBuffer copy, partials;
  };
  void hold_gradient(const float* g, size_t n);
  HeldGradient& held_gradient() { return held_gradient_; }

  // A 16-bit copy of x (n): inside the parameters' copy where x lies there, a held
  // input's copy (rounded at its first use), else rounded now into scratch slot `slot`
  // (grown when too small; a step's shapes repeat, so it grows during the first step only).
  const void* rounded(int slot, const float* x, size_t n);
  void round_into(void* dst, const float* x, size_t n);  // x (n) in 16 bits at dst
  void* scratch16(int slot, size_t n);  // slot's scratch (0..3), grown to n 16-bit values

 private:
  bool bf16_;
  const float* params_ = nullptr;  // parameters_updated's range, or null
  size_t params_n_ = 0;
  DeviceBuffer params16_;
  // AdamW updated all of params_ and wrote params16_ as it went (params_copy_to_update):
  // the next parameters_updated for the same range need not round them again.
  bool params16_fresh_ = false;
  struct HeldInput {  // hold's activations and their 16-bit copies
    const float* x;
    size_t n;
    DeviceBuffer copy;
    bool held;           // since the last parameters_updated
    bool rounded;        // copy holds x's current values
    bool products_only;  // hold_product_input: x itself may stay unwritten
    bool unwritten;      // and the op that computed x wrote only the copy
  };
  std::vector<HeldInput> held_;
  struct Passed16 {  // pass's buffers
    const float* g;
    size_t n;
    bool written16;  // the product stored it in 16 bits
  };
  std::vector<Passed16> passed_;
  HeldGradient held_gradient_;
  DeviceBuffer scratch_[4];  // gemm's A, B; rounded_once; a 16-bit bias
};

}  // namespace cohort::cuda
