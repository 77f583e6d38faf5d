// exp and tanh written so that `#pragma omp simd` loops vectorize them (glibc's expf
// and tanhf are scalar calls unless built with -ffast-math, which we refuse: it would
// loosen every reduction). Same result on every run and thread count.
//
// exp: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, then a degree-6 Taylor
// polynomial (truncation r^7/7! < 1.2e-7 relative: 1-2 ulp). tanh: 1 - 2/(e^{2|x|}+1),
// absolute error about 1e-7, which is all GELU needs (it adds tanh to 1).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace cohort {

#pragma omp declare simd
inline float vec_exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = std::floor(x * 1.44269504f + 0.5f);
  float r = std::fma(n, -0.693145751953125f, x);  // ln2 split hi/lo
  r = std::fma(n, -1.428606765330187e-06f, r);
  float p = 1.0f / 720.0f;
  p = std::fma(p, r, 1.0f / 120.0f);
  p = std::fma(p, r, 1.0f / 24.0f);
  p = std::fma(p, r, 1.0f / 6.0f);
  p = std::fma(p, r, 0.5f);
  p = std::fma(p, r, 1.0f);
  p = std::fma(p, r, 1.0f);
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}

#pragma omp declare simd
inline float vec_tanh(float x) {
  const float a = std::fabs(x);
  const float t = 1.0f - 2.0f / (vec_exp(2.0f * a) + 1.0f);
  return std::copysign(t, x);
}

#if defined(__AVX2__) && defined(__FMA__)
// The same two functions on 8 floats with AVX2 + FMA intrinsics, operation for
// operation (-ffp-contract=off keeps the scalar versions unfused where they are not
// written as fma), so vector and scalar results are bit-identical: GCC 12 leaves the
// `omp simd` loops above scalar, and a loop's tail still uses them.
inline __m256 vec_exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  const __m256 n = _mm256_floor_ps(
      _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _mm256_set1_ps(0.5f)));
  __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-0.693145751953125f), x);
  r = _mm256_fmadd_ps(n, _mm256_set1_ps(-1.428606765330187e-06f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

inline __m256 vec_tanh8(__m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 a = _mm256_andnot_ps(sign, x);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 e = vec_exp8(_mm256_mul_ps(_mm256_set1_ps(2.0f), a));
  const __m256 t = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
  return _mm256_or_ps(_mm256_andnot_ps(sign, t), _mm256_and_ps(sign, x));
}
#endif

}  // namespace cohort
