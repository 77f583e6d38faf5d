// fp32 -> the 16-bit compute type (bf16 or fp16), round to nearest even: the one rounding
// of the 16-bit precisions (matmul operands, attention tiles). Values beyond fp16's range
// become +-inf, which the dynamic loss scaler (optim/loss_scaler.h) detects in the
// gradient norm and answers by skipping the step.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

namespace cohort::cuda {

template <typename E>
__device__ inline E round16(float x) {
  static_assert(std::is_same_v<E, __nv_bfloat16> || std::is_same_v<E, __half>);
  if constexpr (std::is_same_v<E, __nv_bfloat16>)
    return __float2bfloat16_rn(x);
  else
    return __float2half_rn(x);
}

// Calls f(E{}) with E the 16-bit type that bf16 names (__nv_bfloat16, else __half): a
// launch for either precision is written once, its type taken as decltype of the tag.
template <typename F>
void with_16_bit_type(bool bf16, F&& f) {
  if (bf16)
    f(__nv_bfloat16{});
  else
    f(__half{});
}

// N values of T aligned as one load or store of all of them (8 or 16 bytes).
template <typename T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

// Four 16-bit values: an 8-byte store of a float4's rounding.
template <typename E>
using Four16 = Pack<E, 4>;

}  // namespace cohort::cuda
