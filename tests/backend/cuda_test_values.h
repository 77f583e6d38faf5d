// What the CUDA op tests share: random inputs, the fp32 comparison, and the host's view of
// the 16-bit types (cuda_fp16.h's host conversions; core/bf16.h for bf16).
#pragma once

#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/bf16.h"

namespace cohort::cuda_test {

using Floats = std::vector<float>;

inline Floats random_floats(std::mt19937& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  Floats v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Both sides in fp32 with different summation orders (cuBLAS without TF32; fixed-tree
// block reductions): values agree to a few ulps of the sums' terms.
inline void expect_close(const Floats& got, const Floats& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5 + 1e-4 * std::abs(want[i])) << what << " element " << i;
}

// fp32 -> fp16 -> fp32, rounded to nearest even; a stored fp16's bits as a float.
inline float round_fp16(float x) { return __half2float(__float2half_rn(x)); }
inline float fp16_bits_to_float(uint16_t bits) {
  __half_raw raw;
  raw.x = bits;
  return __half2float(__half(raw));
}

// The 16-bit type's rounding and decoding on the host, bf16 or fp16.
inline float round16(bool bf16, float x) {
  return bf16 ? bf16_to_float(float_to_bf16(x)) : round_fp16(x);
}
inline float bits16_to_float(bool bf16, uint16_t bits) {
  return bf16 ? bf16_to_float(bits) : fp16_bits_to_float(bits);
}

}  // namespace cohort::cuda_test
