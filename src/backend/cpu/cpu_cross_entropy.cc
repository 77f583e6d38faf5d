// Softmax + cross-entropy over the real vocabulary (the first V of Vp columns; the
// padding columns exist only to round the LM head matmul and never get probability).
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/vec_math.h"

namespace cohort {

namespace {

// exp(z[i] - maxv) into p[i] for i < V; returns their sum. With AVX2 the sum is kept in
// 8 lanes (lane j sums i = j mod 8) and the lanes are added in a fixed order: the result
// is the same on every run and thread count, though not the serial sum's rounding.
float exp_and_sum(float* p, const float* z, float maxv, int V) {
  int i = 0;
  float sum = 0.0f;
#if defined(__AVX2__) && defined(__FMA__)
  __m256 acc = _mm256_setzero_ps();
  const __m256 m = _mm256_set1_ps(maxv);
  for (; i + 8 <= V; i += 8) {
    const __m256 e = vec_exp8(_mm256_sub_ps(_mm256_loadu_ps(z + i), m));
    _mm256_storeu_ps(p + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  for (float l : lanes) sum += l;
#endif
  for (; i < V; ++i) {
    p[i] = vec_exp(z[i] - maxv);
    sum += p[i];
  }
  return sum;
}

// p (Vp) = softmax of z over its first V entries, 0 in the padding; returns
// log-sum-exp of z, for losses in the exact form lse - z[target].
float softmax_row(float* p, const float* z, int V, int Vp) {
  float maxv = -INFINITY;
  for (int i = 0; i < V; ++i) maxv = z[i] > maxv ? z[i] : maxv;
  const float sum = exp_and_sum(p, z, maxv, V);
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int i = 0; i < V; ++i) p[i] *= inv;
  for (int i = V; i < Vp; ++i) p[i] = 0.0f;
  return maxv + std::log(sum);
}

}  // namespace

void CpuBackend::softmax_cross_entropy_forward(float* losses, float* probs, const float* logits,
                                               const int32_t* targets, int N, int V, int Vp) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* z = logits + size_t(n) * Vp;
    const float z_target = z[targets[n]];  // read before probs (maybe z itself) is written
    // log-sum-exp form: exact for tiny probabilities, where -log(p) would not be.
    losses[n] = softmax_row(probs + size_t(n) * Vp, z, V, Vp) - z_target;
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

void CpuBackend::masked_cross_entropy_forward(float* losses, float* probs, const float* logits,
                                              const int32_t* targets, int N, int V, int Vp,
                                              float smoothing) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* z = logits + size_t(n) * Vp;
    // Everything read from z before probs (maybe z itself) is written.
    const float z_target = targets[n] < 0 ? 0.0f : z[targets[n]];
    double zsum = 0.0;
    if (smoothing > 0.0f && targets[n] >= 0)
      for (int i = 0; i < V; ++i) zsum += z[i];
    const float lse = softmax_row(probs + size_t(n) * Vp, z, V, Vp);
    if (targets[n] < 0) {
      losses[n] = 0.0f;
      continue;
    }
    float loss = lse - z_target;
    if (smoothing > 0.0f)
      loss = (1.0f - smoothing) * loss + smoothing * (lse - static_cast<float>(zsum / V));
    losses[n] = loss;
  }
}

void CpuBackend::masked_cross_entropy_backward(float* dlogits, const float* probs,
                                               const int32_t* targets, const float* row_scale,
                                               int N, int V, int Vp, float smoothing) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* p = probs + size_t(n) * Vp;
    float* d = dlogits + size_t(n) * Vp;
    if (targets[n] < 0) {
      for (int i = 0; i < Vp; ++i) d[i] = 0.0f;
      continue;
    }
    const float s = row_scale[n];
    const float uniform = smoothing / float(V);
#pragma omp simd
    for (int i = 0; i < V; ++i) d[i] = (p[i] - uniform) * s;
    d[targets[n]] -= (1.0f - smoothing) * s;
    for (int i = V; i < Vp; ++i) d[i] = 0.0f;
  }
}

}  // namespace cohort
