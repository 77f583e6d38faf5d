// LayerNorm over the last dim, eps 1e-5 (PyTorch's default). Backward runs in two
// passes so that the parameter gradients, which sum over all rows, are summed in row
// order by whichever thread owns a channel range: deterministic for any thread count.
#include <cmath>

#include "backend/cpu/cpu_backend.h"

namespace cohort {

namespace {
constexpr float kLayerNormEps = 1e-5f;
}

void CpuBackend::layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                                   const float* weight, const float* bias, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* x = inp + size_t(n) * C;
    float* y = out + size_t(n) * C;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int c = 0; c < C; ++c) sum += x[c];
    const float m = sum / C;
    float var = 0.0f;
#pragma omp simd reduction(+ : var)
    for (int c = 0; c < C; ++c) var += (x[c] - m) * (x[c] - m);
    const float s = 1.0f / std::sqrt(var / C + kLayerNormEps);
#pragma omp simd
    for (int c = 0; c < C; ++c) y[c] = (x[c] - m) * s * weight[c] + bias[c];
    mean[n] = m;
    rstd[n] = s;
  }
}

void CpuBackend::layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                    const float* inp, const float* weight, const float* mean,
                                    const float* rstd, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* x = inp + size_t(n) * C;
    const float* dy = dout + size_t(n) * C;
    float* dx = dinp + size_t(n) * C;
    const float m = mean[n], s = rstd[n];
    float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
#pragma omp simd reduction(+ : dnorm_mean, dnorm_norm_mean)
    for (int c = 0; c < C; ++c) {
      const float dnorm = weight[c] * dy[c];
      dnorm_mean += dnorm;
      dnorm_norm_mean += dnorm * (x[c] - m) * s;
    }
    dnorm_mean /= C;
    dnorm_norm_mean /= C;
#pragma omp simd
    for (int c = 0; c < C; ++c) {
      const float norm = (x[c] - m) * s;
      dx[c] += (weight[c] * dy[c] - dnorm_mean - norm * dnorm_norm_mean) * s;
    }
  }
  constexpr int kChunk = 32;
#pragma omp parallel for schedule(static)
  for (int c0 = 0; c0 < C; c0 += kChunk) {
    const int c1 = c0 + kChunk < C ? c0 + kChunk : C;
    for (int n = 0; n < N; ++n) {
      const float* x = inp + size_t(n) * C;
      const float* dy = dout + size_t(n) * C;
      const float m = mean[n], s = rstd[n];
#pragma omp simd
      for (int c = c0; c < c1; ++c) {
        dbias[c] += dy[c];
        dweight[c] += (x[c] - m) * s * dy[c];
      }
    }
  }
}

}  // namespace cohort
