// General multi-head attention on the CPU (encoders and cross-attention): one
// (batch, head) pair per OpenMP task, its products through sgemm over the whole
// Tq x Tk score matrix, masked entries set to zero probability. The causal GPT
// attention keeps its own blocked kernel (cpu_attention.cc); this one is for shapes
// that are not square or not causal. Backward, with M the dropout multipliers and
// Pd = P*M, as in cpu_attention.cc:
//   dV = Pd^T dY;  dPd = dY V^T;  dP = dPd*M;  dS = P*(dP - rowsum(P*dP)) / sqrt(HS);
//   dQ = dS K;  dK = dS^T Q.
#include <cblas.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/dropout_mask.h"
#include "core/error.h"

namespace cohort {

namespace {

// Number of keys query row t may see.
inline int visible_keys(int t, int Tk, bool causal, int key_len) {
  int n = Tk;
  if (causal && t + 1 < n) n = t + 1;
  if (key_len < n) n = key_len;
  return n;
}

float* thread_scratch(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// Element (h, t, t2) of a sample's attention takes mask index (h*2^16 + t)*2^16 + t2,
// whatever Tq and Tk are: batches padded to different lengths (a rank's half of a
// batch against the whole) draw the same mask for the same query and key.
inline uint64_t mask_index(int h, int t) { return ((uint64_t(h) << 16) + uint64_t(t)) << 16; }

// Pd = P * mask for one (b, h) pair.
void apply_dropout(float* pd, const float* p, int Tq, int Tk, int h, uint32_t sample,
                   const DropoutKey& key) {
  for (int t = 0; t < Tq; ++t) {
    DropoutStream mask(key, sample, mask_index(h, t));
    for (int t2 = 0; t2 < Tk; ++t2) pd[size_t(t) * Tk + t2] = p[size_t(t) * Tk + t2] * mask.next();
  }
}

}  // namespace

void CpuBackend::mha_forward(float* out, float* att, const float* q, const float* k, const float* v,
                             int ldq, int ldkv, int B, int Tq, int Tk, int C, int NH, bool causal,
                             const int32_t* key_len, const DropoutKey& dropout) {
  const int HS = C / NH;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  COHORT_CHECK(Tq < 65536 && Tk < 65536) << "attention beyond 65535 positions";
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      const float* qb = q + size_t(b) * Tq * ldq + h * HS;
      const float* kb = k + size_t(b) * Tk * ldkv + h * HS;
      const float* vb = v + size_t(b) * Tk * ldkv + h * HS;
      float* p = att + (size_t(b) * NH + h) * Tq * Tk;
      const int len = key_len ? key_len[b] : Tk;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, HS, scale, qb, ldq, kb, ldkv,
                  0.0f, p, Tk);
      for (int t = 0; t < Tq; ++t) {
        float* row = p + size_t(t) * Tk;
        const int n = visible_keys(t, Tk, causal, len);
        float maxv = -INFINITY;
        for (int t2 = 0; t2 < n; ++t2) maxv = row[t2] > maxv ? row[t2] : maxv;
        float sum = 0.0f;
        for (int t2 = 0; t2 < n; ++t2) {
          row[t2] = std::exp(row[t2] - maxv);
          sum += row[t2];
        }
        const float inv = 1.0f / sum;
        for (int t2 = 0; t2 < n; ++t2) row[t2] *= inv;
        std::memset(row + n, 0, sizeof(float) * (Tk - n));
      }
      const float* pd = p;
      if (dropout.active()) {
        float* buf = thread_scratch(size_t(Tq) * Tk);
        apply_dropout(buf, p, Tq, Tk, h, dropout.sample_offset + b, dropout);
        pd = buf;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, HS, Tk, 1.0f, pd, Tk, vb, ldkv,
                  0.0f, out + size_t(b) * Tq * C + h * HS, C);
    }
  }
}

void CpuBackend::mha_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout,
                              const float* q, const float* k, const float* v, const float* att,
                              int ldq, int ldkv, int B, int Tq, int Tk, int C, int NH, bool causal,
                              const int32_t* key_len, const DropoutKey& dropout) {
  const int HS = C / NH;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      const size_t qo = size_t(b) * Tq * ldq + h * HS, ko = size_t(b) * Tk * ldkv + h * HS;
      const float* dy = dout + size_t(b) * Tq * C + h * HS;
      const float* p = att + (size_t(b) * NH + h) * Tq * Tk;
      float* s = scratch + (size_t(b) * NH + h) * Tq * Tk;
      const uint32_t sample = dropout.sample_offset + b;
      const int len = key_len ? key_len[b] : Tk;

      const float* pd = p;
      if (dropout.active()) {
        apply_dropout(s, p, Tq, Tk, h, sample, dropout);
        pd = s;
      }
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, HS, Tq, 1.0f, pd, Tk, dy, C, 0.0f,
                  dv + ko, ldkv);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, HS, 1.0f, dy, C, v + ko, ldkv,
                  0.0f, s, Tk);
      for (int t = 0; t < Tq; ++t) {
        float* ds = s + size_t(t) * Tk;
        const float* pr = p + size_t(t) * Tk;
        const int n = visible_keys(t, Tk, causal, len);
        if (dropout.active()) {
          DropoutStream mask(dropout, sample, mask_index(h, t));
          for (int t2 = 0; t2 < n; ++t2) ds[t2] *= mask.next();
        }
        float dot = 0.0f;
        for (int t2 = 0; t2 < n; ++t2) dot += pr[t2] * ds[t2];
        for (int t2 = 0; t2 < n; ++t2) ds[t2] = pr[t2] * (ds[t2] - dot) * scale;
        std::memset(ds + n, 0, sizeof(float) * (Tk - n));
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, HS, Tk, 1.0f, s, Tk, k + ko, ldkv,
                  0.0f, dq + qo, ldq);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, HS, Tq, 1.0f, s, Tk, q + qo, ldq,
                  0.0f, dk + ko, ldkv);
    }
  }
}

void CpuBackend::tanh_forward(float* out, const float* inp, size_t n) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) out[i] = std::tanh(inp[i]);
}

void CpuBackend::tanh_backward(float* dinp, const float* out, const float* dout, size_t n) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) dinp[i] = (1.0f - out[i] * out[i]) * dout[i];
}

}  // namespace cohort
