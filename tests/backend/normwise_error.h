// The attention tests' error measure (cuda_ops_test, tc_attention_emulated_test): over
// `width` columns of every `stride`-wide row from column `first`, max |got - want| /
// max |want|; infinite when got holds a NaN or an infinity (max() would skip a NaN).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace cohort::testing {

inline double normwise_error(const std::vector<float>& got, const std::vector<float>& want,
                             size_t first, size_t width, size_t stride) {
  double err = 0, scale = 0;
  for (size_t i = first; i < want.size(); i += stride)
    for (size_t d = 0; d < width; ++d) {
      if (!std::isfinite(got[i + d])) return double(INFINITY);
      err = std::max(err, double(std::abs(got[i + d] - want[i + d])));
      scale = std::max(scale, double(std::abs(want[i + d])));
    }
  return err / scale;
}

}  // namespace cohort::testing
