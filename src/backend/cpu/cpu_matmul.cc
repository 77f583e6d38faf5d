// Linear layers and the tied LM head through CBLAS sgemm. Weights are (in, out), so
// forward is the plain out = inp . W (see backend.h).
#include <cblas.h>

#include <cstring>

#include "backend/cpu/cpu_backend.h"

namespace cohort {

void CpuBackend::linear_forward(float* out, const float* inp, const float* weight,
                                const float* bias, int N, int C, int OC) {
  float beta = 0.0f;
  if (bias != nullptr) {
#pragma omp parallel for
    for (int n = 0; n < N; ++n) std::memcpy(out + size_t(n) * OC, bias, sizeof(float) * OC);
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, OC, C, 1.0f, inp, C, weight, OC, beta,
              out, OC);
}

void CpuBackend::linear_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                 const float* inp, const float* weight, int N, int C, int OC) {
  if (dinp != nullptr) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, C, OC, 1.0f, dout, OC, weight, OC, 0.0f,
                dinp, C);
  }
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, OC, N, 1.0f, inp, C, dout, OC, 1.0f,
              dweight, OC);
  if (dbias != nullptr) {
    // Parallel over output channels, rows summed in order: deterministic.
    constexpr int kChunk = 64;
#pragma omp parallel for schedule(static)
    for (int o0 = 0; o0 < OC; o0 += kChunk) {
      const int o1 = o0 + kChunk < OC ? o0 + kChunk : OC;
      for (int n = 0; n < N; ++n) {
        const float* row = dout + size_t(n) * OC;
#pragma omp simd
        for (int o = o0; o < o1; ++o) dbias[o] += row[o];
      }
    }
  }
}

void CpuBackend::lm_head_forward(float* logits, const float* x, const float* wte, int N, int C,
                                 int Vp) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, Vp, C, 1.0f, x, C, wte, C, 0.0f, logits,
              Vp);
}

void CpuBackend::lm_head_backward(float* dx, float* dwte, const float* dlogits, const float* x,
                                  const float* wte, int N, int C, int Vp) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, Vp, 1.0f, dlogits, Vp, wte, C, 0.0f,
              dx, C);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Vp, C, N, 1.0f, dlogits, Vp, x, C, 1.0f,
              dwte, C);
}

}  // namespace cohort
