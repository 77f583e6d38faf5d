// A value's bits, for the tests that compare results bit for bit (so NaN equals NaN and
// -0 differs from +0): a 16-bit type's as uint16_t, a float's as uint32_t.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace cohort::testing {

template <typename T>
auto bits(T v) {
  static_assert(sizeof(T) == 2 || sizeof(T) == 4);
  std::conditional_t<sizeof(T) == 2, uint16_t, uint32_t> b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

}  // namespace cohort::testing
