// Optimizer updates, one pass over the flat buffers. AdamW follows PyTorch's
// torch.optim.AdamW (single-tensor path) operation for operation.
#include <cmath>

#include "backend/cpu/cpu_backend.h"

namespace cohort {

void CpuBackend::adamw_update(float* param, const float* grad, float* m, float* v, size_t n,
                              const AdamWArgs& a) {
  const float decay = 1.0f - a.lr * a.weight_decay;
  const float step_size = a.lr / a.bias_correction1;
  const float bc2_sqrt = std::sqrt(a.bias_correction2);
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; ++i) {
    const float g = grad[i] * a.grad_scale;
    const float mi = a.beta1 * m[i] + (1.0f - a.beta1) * g;
    const float vi = a.beta2 * v[i] + (1.0f - a.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / bc2_sqrt + a.eps;
    param[i] = param[i] * decay - step_size * mi / denom;
  }
}

void CpuBackend::sgd_update(float* param, const float* grad, float* momentum_buf, size_t n,
                            float lr, float momentum, float grad_scale) {
  if (momentum == 0.0f || momentum_buf == nullptr) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; ++i) param[i] -= lr * (grad[i] * grad_scale);
    return;
  }
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; ++i) {
    momentum_buf[i] = momentum * momentum_buf[i] + grad[i] * grad_scale;
    param[i] -= lr * momentum_buf[i];
  }
}

}  // namespace cohort
