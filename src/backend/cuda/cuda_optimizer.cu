// AdamW (PyTorch's formula, as cpu_optimizer.cc) and SGD with momentum.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"

namespace cohort {

namespace {

__global__ void adamw_k(float* p, const float* g, float* m, float* v, size_t n,
                        Backend::AdamWArgs a) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float decay = 1.0f - a.lr * a.weight_decay;
  const float step_size = a.lr / a.bias_correction1;
  const float bc2_sqrt = sqrtf(a.bias_correction2);
  const float gi = g[i];
  const float mi = a.beta1 * m[i] + (1.0f - a.beta1) * gi;
  const float vi = a.beta2 * v[i] + (1.0f - a.beta2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  p[i] = p[i] * decay - step_size * mi / (sqrtf(vi) / bc2_sqrt + a.eps);
}

__global__ void sgd_k(float* p, const float* g, float* buf, size_t n, float lr, float mu) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (buf == nullptr) {
    p[i] -= lr * g[i];
    return;
  }
  buf[i] = mu * buf[i] + g[i];
  p[i] -= lr * buf[i];
}

}  // namespace

void CudaBackend::adamw_update(float* param, const float* grad, float* m, float* v, size_t n,
                               const AdamWArgs& a) {
  if (n == 0) return;
  adamw_k<<<cuda::blocks_for(n, 256), 256>>>(param, grad, m, v, n, a);
  COHORT_CUDA_LAUNCHED();
}

void CudaBackend::sgd_update(float* param, const float* grad, float* momentum_buf, size_t n,
                             float lr, float momentum) {
  if (n == 0) return;
  sgd_k<<<cuda::blocks_for(n, 256), 256>>>(param, grad, momentum == 0.0f ? nullptr : momentum_buf,
                                           n, lr, momentum);
  COHORT_CUDA_LAUNCHED();
}

}  // namespace cohort
