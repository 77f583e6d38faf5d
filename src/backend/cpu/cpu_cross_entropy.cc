// Softmax + cross-entropy over the real vocabulary (the first V of Vp columns; the
// padding columns exist only to round the LM head matmul and never get probability).
#include <cmath>

#include "backend/cpu/cpu_backend.h"

namespace cohort {

void CpuBackend::softmax_cross_entropy_forward(float* losses, float* probs, const float* logits,
                                               const int32_t* targets, int N, int V, int Vp) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* z = logits + size_t(n) * Vp;
    float* p = probs + size_t(n) * Vp;
    float maxv = -INFINITY;
    for (int i = 0; i < V; ++i) maxv = z[i] > maxv ? z[i] : maxv;
    float sum = 0.0f;
    for (int i = 0; i < V; ++i) {
      p[i] = std::exp(z[i] - maxv);
      sum += p[i];
    }
    const float inv = 1.0f / sum;
#pragma omp simd
    for (int i = 0; i < V; ++i) p[i] *= inv;
    for (int i = V; i < Vp; ++i) p[i] = 0.0f;
    // log-sum-exp form: exact for tiny probabilities, where -log(p) would not be.
    losses[n] = maxv + std::log(sum) - z[targets[n]];
  }
}

void CpuBackend::softmax_cross_entropy_backward(float* dlogits, const float* probs,
                                                const int32_t* targets, float dloss, int N, int V,
                                                int Vp) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* p = probs + size_t(n) * Vp;
    float* d = dlogits + size_t(n) * Vp;
#pragma omp simd
    for (int i = 0; i < V; ++i) d[i] = p[i] * dloss;
    d[targets[n]] -= dloss;
    for (int i = V; i < Vp; ++i) d[i] = 0.0f;
  }
}

}  // namespace cohort
