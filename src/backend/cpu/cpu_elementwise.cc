// Element-wise ops: GELU, residual adds, dropout, scaling, and the global sum of
// squares used by gradient clipping.
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/dropout_mask.h"
#include "backend/cpu/vec_math.h"

namespace cohort {

namespace {
constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kGeluCube = 0.044715f;
// Partial sums over fixed blocks, then the blocks in order: the result does not depend
// on how many threads ran.
constexpr size_t kSumBlock = 8192;
}  // namespace

// GELU, tanh form (GPT-2's). Scalar versions are the definition; gelu_forward8 and
// gelu_backward8 compute the same operations in the same order on 8 lanes.
inline float gelu_scalar(float x) {
  return 0.5f * x * (1.0f + vec_tanh(kGeluScale * (x + kGeluCube * x * x * x)));
}

inline float gelu_grad_scalar(float x) {
  const float u = kGeluScale * (x + kGeluCube * x * x * x);
  const float th = vec_tanh(u);
  const float sech2 = 1.0f - th * th;
  return 0.5f * (1.0f + th) + 0.5f * x * sech2 * kGeluScale * (1.0f + 3.0f * kGeluCube * x * x);
}

#if defined(__AVX2__) && defined(__FMA__)
inline __m256 gelu_inner8(__m256 x) {  // kGeluScale * (x + kGeluCube * x * x * x)
  const __m256 cube =
      _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(kGeluCube), x), x), x);
  return _mm256_mul_ps(_mm256_set1_ps(kGeluScale), _mm256_add_ps(x, cube));
}

inline __m256 gelu8(__m256 x) {
  const __m256 t = vec_tanh8(gelu_inner8(x));
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x),
                       _mm256_add_ps(_mm256_set1_ps(1.0f), t));
}

inline __m256 gelu_grad8(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
  const __m256 th = vec_tanh8(gelu_inner8(x));
  const __m256 sech2 = _mm256_sub_ps(one, _mm256_mul_ps(th, th));
  const __m256 left = _mm256_mul_ps(half, _mm256_add_ps(one, th));
  const __m256 poly =
      _mm256_add_ps(one, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(3.0f * kGeluCube), x), x));
  const __m256 right = _mm256_mul_ps(
      _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(half, x), sech2), _mm256_set1_ps(kGeluScale)),
      poly);
  return _mm256_add_ps(left, right);
}
#endif

void CpuBackend::gelu_forward(float* out, const float* inp, size_t n) {
  size_t done = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const size_t blocks = n / 8;
#pragma omp parallel for schedule(static)
  for (size_t b = 0; b < blocks; ++b) {
    _mm256_storeu_ps(out + 8 * b, gelu8(_mm256_loadu_ps(inp + 8 * b)));
  }
  done = blocks * 8;
#endif
  for (size_t i = done; i < n; ++i) out[i] = gelu_scalar(inp[i]);
}

void CpuBackend::gelu_backward(float* dinp, const float* inp, const float* dout, size_t n) {
  size_t done = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const size_t blocks = n / 8;
#pragma omp parallel for schedule(static)
  for (size_t b = 0; b < blocks; ++b) {
    const __m256 g = gelu_grad8(_mm256_loadu_ps(inp + 8 * b));
    _mm256_storeu_ps(dinp + 8 * b, _mm256_mul_ps(g, _mm256_loadu_ps(dout + 8 * b)));
  }
  done = blocks * 8;
#endif
  for (size_t i = done; i < n; ++i) dinp[i] = gelu_grad_scalar(inp[i]) * dout[i];
}

void CpuBackend::add(float* out, const float* a, const float* b, size_t n) {
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void CpuBackend::accumulate(float* y, const float* x, size_t n) {
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; ++i) y[i] += x[i];
}

void CpuBackend::scale(float* x, float s, size_t n) {
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; ++i) x[i] *= s;
}

void CpuBackend::dropout(float* x, int B, size_t n_per_sample, const DropoutKey& key) {
  if (!key.active()) return;
  constexpr size_t kChunk = 4096;  // a multiple of 4: chunks start on Philox blocks
  const size_t chunks = (n_per_sample + kChunk - 1) / kChunk;
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b) {
    for (size_t ch = 0; ch < chunks; ++ch) {
      const size_t begin = ch * kChunk;
      const size_t end = begin + kChunk < n_per_sample ? begin + kChunk : n_per_sample;
      DropoutStream mask(key, key.sample_offset + b, begin);
      float* row = x + size_t(b) * n_per_sample;
      for (size_t i = begin; i < end; ++i) row[i] *= mask.next();
    }
  }
}

double CpuBackend::sum_squares(const float* x, size_t n) {
  const size_t blocks = (n + kSumBlock - 1) / kSumBlock;
  if (block_sums_.size() < blocks) block_sums_.resize(blocks);
  double* sums = block_sums_.data();
#pragma omp parallel for schedule(static)
  for (size_t blk = 0; blk < blocks; ++blk) {
    const size_t end = (blk + 1) * kSumBlock < n ? (blk + 1) * kSumBlock : n;
    double s = 0.0;
    for (size_t i = blk * kSumBlock; i < end; ++i) s += double(x[i]) * x[i];
    sums[blk] = s;
  }
  double total = 0.0;
  for (size_t blk = 0; blk < blocks; ++blk) total += sums[blk];
  return total;
}

}  // namespace cohort
