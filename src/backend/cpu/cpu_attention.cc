// Causal multi-head attention on the CPU: one (batch, head) pair per OpenMP task, its
// matrix products through sgemm (OpenBLAS runs single-threaded inside a parallel
// region). Products are split into blocks of kBlock query rows (or key columns) so
// that the masked upper triangle is mostly skipped: about (1/2 + kBlock/2T) of the
// T x T work is done instead of all of it.
//
// The T x T probabilities P are kept for backward, their upper triangle zeroed so the
// blocked products may read it; the dropout mask on them is regenerated from its key.
// Backward, with M the dropout multipliers and Pd = P*M:
//   dV = Pd^T dY;  dPd = dY V^T;  dP = dPd*M;  dS = P*(dP - rowsum(P*dP)) / sqrt(HS);
//   dQ = dS K;  dK = dS^T Q.
#include <cblas.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/dropout_mask.h"

namespace cohort {

namespace {

constexpr int kBlock = 32;

// Pd = P * mask for one (b, h) pair; upper triangle stays zero.
void apply_dropout(float* pd, const float* p, int T, int h, uint32_t sample,
                   const DropoutKey& key) {
  for (int t = 0; t < T; ++t) {
    DropoutStream mask(key, sample, (size_t(h) * T + t) * T);
    for (int t2 = 0; t2 <= t; ++t2) pd[size_t(t) * T + t2] = p[size_t(t) * T + t2] * mask.next();
    std::memset(pd + size_t(t) * T + t + 1, 0, sizeof(float) * (T - t - 1));
  }
}

// A per-thread T x T buffer for the dropped-out probabilities; grows once.
float* thread_scratch(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

}  // namespace

void CpuBackend::attention_forward(float* out, float* att, const float* qkv, int B, int T, int C,
                                   int NH, const DropoutKey& dropout) {
  const int HS = C / NH, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      const float* q = qkv + size_t(b) * T * C3 + h * HS;
      const float* k = q + C;
      const float* v = q + 2 * C;
      float* p = att + (size_t(b) * NH + h) * T * T;
      for (int r0 = 0; r0 < T; r0 += kBlock) {
        const int r1 = r0 + kBlock < T ? r0 + kBlock : T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, r1, HS, scale,
                    q + size_t(r0) * C3, C3, k, C3, 0.0f, p + size_t(r0) * T, T);
      }
      for (int t = 0; t < T; ++t) {
        float* row = p + size_t(t) * T;
        float maxv = -INFINITY;
        for (int t2 = 0; t2 <= t; ++t2) maxv = row[t2] > maxv ? row[t2] : maxv;
        float sum = 0.0f;
        for (int t2 = 0; t2 <= t; ++t2) {
          row[t2] = std::exp(row[t2] - maxv);
          sum += row[t2];
        }
        const float inv = 1.0f / sum;
        for (int t2 = 0; t2 <= t; ++t2) row[t2] *= inv;
        std::memset(row + t + 1, 0, sizeof(float) * (T - t - 1));
      }
      const float* pd = p;
      if (dropout.active()) {
        float* buf = thread_scratch(size_t(T) * T);
        apply_dropout(buf, p, T, h, dropout.sample_offset + b, dropout);
        pd = buf;
      }
      float* y = out + size_t(b) * T * C + h * HS;
      for (int r0 = 0; r0 < T; r0 += kBlock) {
        const int r1 = r0 + kBlock < T ? r0 + kBlock : T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, HS, r1, 1.0f,
                    pd + size_t(r0) * T, T, v, C3, 0.0f, y + size_t(r0) * C, C);
      }
    }
  }
}

void CpuBackend::attention_backward(float* dqkv, float* scratch, const float* dout,
                                    const float* qkv, const float* att, const float*, int B, int T,
                                    int C, int NH, const DropoutKey& dropout) {
  const int HS = C / NH, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      const size_t off = size_t(b) * T * C3 + h * HS;
      const float *q = qkv + off, *k = q + C, *v = q + 2 * C;
      float *dq = dqkv + off, *dk = dq + C, *dv = dq + 2 * C;
      const float* dy = dout + size_t(b) * T * C + h * HS;
      const float* p = att + (size_t(b) * NH + h) * T * T;
      float* s = scratch + (size_t(b) * NH + h) * T * T;
      const uint32_t sample = dropout.sample_offset + b;

      // dV = Pd^T dY, by blocks of key rows c0..c1: only query rows t >= c0 contribute.
      const float* pd = p;
      if (dropout.active()) {
        apply_dropout(s, p, T, h, sample, dropout);
        pd = s;
      }
      for (int c0 = 0; c0 < T; c0 += kBlock) {
        const int c1 = c0 + kBlock < T ? c0 + kBlock : T;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, c1 - c0, HS, T - c0, 1.0f,
                    pd + size_t(c0) * T + c0, T, dy + size_t(c0) * C, C, 0.0f, dv + size_t(c0) * C3,
                    C3);
      }
      // dPd = dY V^T into s (Pd is no longer needed).
      for (int r0 = 0; r0 < T; r0 += kBlock) {
        const int r1 = r0 + kBlock < T ? r0 + kBlock : T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, r1, HS, 1.0f,
                    dy + size_t(r0) * C, C, v, C3, 0.0f, s + size_t(r0) * T, T);
      }
      // dS, row by row, in place; upper triangle zeroed for the products below.
      for (int t = 0; t < T; ++t) {
        float* ds = s + size_t(t) * T;
        const float* pr = p + size_t(t) * T;
        if (dropout.active()) {
          DropoutStream mask(dropout, sample, (size_t(h) * T + t) * T);
          for (int t2 = 0; t2 <= t; ++t2) ds[t2] *= mask.next();
        }
        float dot = 0.0f;
        for (int t2 = 0; t2 <= t; ++t2) dot += pr[t2] * ds[t2];
        for (int t2 = 0; t2 <= t; ++t2) ds[t2] = pr[t2] * (ds[t2] - dot) * scale;
        std::memset(ds + t + 1, 0, sizeof(float) * (T - t - 1));
      }
      // dQ = dS K (query row blocks); dK = dS^T Q (key row blocks).
      for (int r0 = 0; r0 < T; r0 += kBlock) {
        const int r1 = r0 + kBlock < T ? r0 + kBlock : T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, HS, r1, 1.0f,
                    s + size_t(r0) * T, T, k, C3, 0.0f, dq + size_t(r0) * C3, C3);
      }
      for (int c0 = 0; c0 < T; c0 += kBlock) {
        const int c1 = c0 + kBlock < T ? c0 + kBlock : T;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, c1 - c0, HS, T - c0, 1.0f,
                    s + size_t(c0) * T + c0, T, q + size_t(c0) * C3, C3, 0.0f, dk + size_t(c0) * C3,
                    C3);
      }
    }
  }
}

}  // namespace cohort
