// Causal multi-head attention on the CPU, one (batch, head) pair per task. Only the
// causal half (t2 <= t) is computed. The T x T probabilities are kept for backward;
// the dropout mask on them is regenerated from its key, never stored.
//
// Backward per row t, with P the probabilities, M the dropout multipliers and
// Pd = P*M:  dPd = dy . v^T;  dv += Pd^T dy;  dP = dPd*M;
//            dS = P*(dP - sum(P*dP)) / sqrt(HS);  dq = dS . k;  dk += dS^T q.
#include <cmath>
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/dropout_mask.h"

namespace cohort {

void CpuBackend::attention_forward(float* out, float* att, const float* qkv, int B, int T,
                                   int C, int NH, const DropoutKey& dropout) {
  const int HS = C / NH;
  const int C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
#pragma omp parallel for collapse(3) schedule(static)
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      for (int t = 0; t < T; ++t) {
        const float* q = qkv + (size_t(b) * T + t) * C3 + h * HS;
        float* row = att + ((size_t(b) * NH + h) * T + t) * T;
        float maxv = -INFINITY;
        for (int t2 = 0; t2 <= t; ++t2) {
          const float* k = qkv + (size_t(b) * T + t2) * C3 + C + h * HS;
          float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
          for (int i = 0; i < HS; ++i) dot += q[i] * k[i];
          row[t2] = dot * scale;
          maxv = row[t2] > maxv ? row[t2] : maxv;
        }
        float sum = 0.0f;
        for (int t2 = 0; t2 <= t; ++t2) {
          row[t2] = std::exp(row[t2] - maxv);
          sum += row[t2];
        }
        const float inv = 1.0f / sum;
        for (int t2 = 0; t2 <= t; ++t2) row[t2] *= inv;

        float* y = out + (size_t(b) * T + t) * C + h * HS;
        for (int i = 0; i < HS; ++i) y[i] = 0.0f;
        if (dropout.active()) {
          DropoutStream mask(dropout, dropout.sample_offset + b, (size_t(h) * T + t) * T);
          for (int t2 = 0; t2 <= t; ++t2) {
            const float w = row[t2] * mask.next();
            const float* v = qkv + (size_t(b) * T + t2) * C3 + 2 * C + h * HS;
#pragma omp simd
            for (int i = 0; i < HS; ++i) y[i] += w * v[i];
          }
        } else {
          for (int t2 = 0; t2 <= t; ++t2) {
            const float w = row[t2];
            const float* v = qkv + (size_t(b) * T + t2) * C3 + 2 * C + h * HS;
#pragma omp simd
            for (int i = 0; i < HS; ++i) y[i] += w * v[i];
          }
        }
      }
    }
  }
}

void CpuBackend::attention_backward(float* dqkv, float* scratch, const float* dout,
                                    const float* qkv, const float* att, int B, int T, int C,
                                    int NH, const DropoutKey& dropout) {
  const int HS = C / NH;
  const int C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      for (int t = 0; t < T; ++t) {
        float* d = dqkv + (size_t(b) * T + t) * C3 + h * HS;
        std::memset(d, 0, sizeof(float) * HS);
        std::memset(d + C, 0, sizeof(float) * HS);
        std::memset(d + 2 * C, 0, sizeof(float) * HS);
      }
      for (int t = 0; t < T; ++t) {
        const float* p = att + ((size_t(b) * NH + h) * T + t) * T;
        float* dp = scratch + ((size_t(b) * NH + h) * T + t) * T;  // this row's dP
        const float* dy = dout + (size_t(b) * T + t) * C + h * HS;
        const float* q = qkv + (size_t(b) * T + t) * C3 + h * HS;
        float* dq = dqkv + (size_t(b) * T + t) * C3 + h * HS;

        DropoutStream mask(dropout, dropout.sample_offset + b, (size_t(h) * T + t) * T);
        float dot_p_dp = 0.0f;
        for (int t2 = 0; t2 <= t; ++t2) {
          const float m = dropout.active() ? mask.next() : 1.0f;
          const float* v = qkv + (size_t(b) * T + t2) * C3 + 2 * C + h * HS;
          float* dv = dqkv + (size_t(b) * T + t2) * C3 + 2 * C + h * HS;
          float dpd = 0.0f;
#pragma omp simd reduction(+ : dpd)
          for (int i = 0; i < HS; ++i) dpd += dy[i] * v[i];
          const float pd = p[t2] * m;
#pragma omp simd
          for (int i = 0; i < HS; ++i) dv[i] += pd * dy[i];
          dp[t2] = dpd * m;
          dot_p_dp += p[t2] * dp[t2];
        }
        for (int t2 = 0; t2 <= t; ++t2) {
          const float ds = p[t2] * (dp[t2] - dot_p_dp) * scale;
          const float* k = qkv + (size_t(b) * T + t2) * C3 + C + h * HS;
          float* dk = dqkv + (size_t(b) * T + t2) * C3 + C + h * HS;
#pragma omp simd
          for (int i = 0; i < HS; ++i) {
            dq[i] += ds * k[i];
            dk[i] += ds * q[i];
          }
        }
      }
    }
  }
}

}  // namespace cohort
