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

}  // namespace cohort
