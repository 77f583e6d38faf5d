// Softmax + cross-entropy over the first V of Vp logits: one block per row, two passes
// over it, max and sums reduced in a fixed tree. Masked rows (target < 0) score 0; label
// smoothing as in backend.h.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_reduce.cuh"

namespace cohort {

namespace {

constexpr unsigned kThreads = 256;

__global__ void ce_forward(float* losses, float* probs, const float* logits, const int32_t* targets,
                           int V, int Vp, float smoothing) {
  __shared__ float scratch[kThreads];
  const int n = blockIdx.x;
  const float* z = logits + size_t(n) * Vp;
  float* p = probs + size_t(n) * Vp;
  // Read before any thread writes p, which may be z itself.
  const int t = targets[n];
  const float z_target = threadIdx.x == 0 && t >= 0 ? z[t] : 0.0f;
  // One read of the row for its max and sum of exponentials (the online softmax: each
  // thread rescales its sum when its max grows), a second to write the probabilities.
  float m = -INFINITY, s = 0.0f, zsum = 0.0f;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    const float x = z[i];
    if (x > m) {
      s = s * expf(m - x) + 1.0f;
      m = x;
    } else {
      s += expf(x - m);
    }
    zsum += x;
  }
  const float row_max = cuda::block_reduce(m, scratch, cuda::Max{});
  s = cuda::block_reduce(m == -INFINITY ? 0.0f : s * expf(m - row_max), scratch, cuda::Sum{});
  m = row_max;
  zsum = cuda::block_reduce(zsum, scratch, cuda::Sum{});
  const float inv = 1.0f / s;
  for (int i = threadIdx.x; i < Vp; i += blockDim.x) p[i] = i < V ? expf(z[i] - m) * inv : 0.0f;
  if (threadIdx.x == 0) {
    const float lse = m + logf(s);
    float loss = t < 0 ? 0.0f : lse - z_target;
    if (t >= 0 && smoothing > 0.0f) loss = (1.0f - smoothing) * loss + smoothing * (lse - zsum / V);
    losses[n] = loss;
  }
}

// dlogits = (p - target distribution) * scale (row_scale[n], or dloss without it).
__global__ void ce_backward(float* dlogits, const float* probs, const int32_t* targets,
                            const float* row_scale, float dloss, int V, int Vp, float smoothing) {
  const int n = blockIdx.x;
  const int t = targets[n];
  const float s = row_scale ? row_scale[n] : dloss;
  const float* p = probs + size_t(n) * Vp;
  float* d = dlogits + size_t(n) * Vp;
  for (int i = threadIdx.x; i < Vp; i += blockDim.x) {
    float g = 0.0f;
    if (t >= 0 && i < V) {
      g = (p[i] - smoothing / float(V)) * s;
      if (i == t) g -= (1.0f - smoothing) * s;
    }
    d[i] = g;
  }
}

}  // namespace

void CudaBackend::softmax_cross_entropy_forward(float* losses, float* probs, const float* logits,
                                                const int32_t* targets, int N, int V, int Vp) {
  masked_cross_entropy_forward(losses, probs, logits, targets, N, V, Vp, 0.0f);
}

void CudaBackend::softmax_cross_entropy_backward(float* dlogits, const float* probs,
                                                 const int32_t* targets, float dloss, int N, int V,
                                                 int Vp) {
  if (N == 0) return;
  ce_backward<<<N, kThreads>>>(dlogits, probs, targets, nullptr, dloss, V, Vp, 0.0f);
  COHORT_CUDA_LAUNCHED();
}

void CudaBackend::masked_cross_entropy_forward(float* losses, float* probs, const float* logits,
                                               const int32_t* targets, int N, int V, int Vp,
                                               float smoothing) {
  if (N == 0) return;
  ce_forward<<<N, kThreads>>>(losses, probs, logits, targets, V, Vp, smoothing);
  COHORT_CUDA_LAUNCHED();
}

void CudaBackend::masked_cross_entropy_backward(float* dlogits, const float* probs,
                                                const int32_t* targets, const float* row_scale,
                                                int N, int V, int Vp, float smoothing) {
  if (N == 0) return;
  ce_backward<<<N, kThreads>>>(dlogits, probs, targets, row_scale, 0.0f, V, Vp, smoothing);
  COHORT_CUDA_LAUNCHED();
}

}  // namespace cohort
