#include "core/philox.h"

#include <cmath>

namespace cohort {

float philox_normal(uint64_t seed, uint64_t index) {
  const PhiloxKey key = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  const PhiloxCounter r = philox4x32(
      {static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), 0x6e6f726du, 0}, key);
  // u1 in (0, 1] so the log is finite.
  const double u1 = (static_cast<double>(r[0] >> 8) + 1.0) * 0x1p-24;
  const double u2 = static_cast<double>(r[1] >> 8) * 0x1p-24;
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
}

}  // namespace cohort
