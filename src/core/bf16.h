// bfloat16 <-> float: the top 16 bits of an IEEE float, rounded to nearest even (NaN
// kept a quiet NaN). Used for bf16 gradients on the wire.
#pragma once

#include <cstdint>
#include <cstring>

namespace cohort {

inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu)) return uint16_t((u >> 16) | 0x40);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

inline float bf16_to_float(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace cohort
