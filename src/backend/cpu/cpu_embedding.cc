// Token + position embedding, and row gather/scatter by index. Backward scatters into wte rows that
// repeated tokens share, so threads split the channel dimension and each walks all (b, t) in order:
// no races and a fixed summation order.
#include <cstring>

#include "backend/cpu/cpu_backend.h"

namespace cohort {

void CpuBackend::embedding_forward(float* out, const int32_t* tokens, const float* wte,
                                   const float* wpe, int B, int T, int C) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b) {
    for (int t = 0; t < T; ++t) {
      float* o = out + (size_t(b) * T + t) * C;
      const float* e = wte + size_t(tokens[size_t(b) * T + t]) * C;
      const float* p = wpe + size_t(t) * C;
#pragma omp simd
      for (int c = 0; c < C; ++c) o[c] = e[c] + p[c];
    }
  }
}

void CpuBackend::embedding_backward(float* dwte, float* dwpe, const float* dout,
                                    const int32_t* tokens, int B, int T, int C) {
  constexpr int kChunk = 16;
#pragma omp parallel for schedule(static)
  for (int c0 = 0; c0 < C; c0 += kChunk) {
    const int c1 = c0 + kChunk < C ? c0 + kChunk : C;
    for (int b = 0; b < B; ++b) {
      for (int t = 0; t < T; ++t) {
        const float* d = dout + (size_t(b) * T + t) * C;
        float* e = dwte + size_t(tokens[size_t(b) * T + t]) * C;
        float* p = dwpe + size_t(t) * C;
#pragma omp simd
        for (int c = c0; c < c1; ++c) {
          e[c] += d[c];
          p[c] += d[c];
        }
      }
    }
  }
}

void CpuBackend::gather_rows(float* out, const float* in, const int32_t* rows, int n, int C) {
#pragma omp parallel for schedule(static)
  for (int r = 0; r < n; ++r)
    std::memcpy(out + size_t(r) * C, in + size_t(rows[r]) * C, size_t(C) * sizeof(float));
}

void CpuBackend::scatter_rows(float* out, const float* in, const int32_t* rows, int n, int C) {
#pragma omp parallel for schedule(static)
  for (int r = 0; r < n; ++r)
    std::memcpy(out + size_t(rows[r]) * C, in + size_t(r) * C, size_t(C) * sizeof(float));
}

}  // namespace cohort
