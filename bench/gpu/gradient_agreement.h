// How far one step's gradients are from an fp32 run's on the same weights and batch: the
// relative L2 error over all parameters and per tensor, the worst tensors printed. The
// GPU benchmark's --compare-fp32 prints it for bf16 / fp16; bench/gpu/gpt2_torch.py
// --compare-fp32 prints the same line for PyTorch's autocast, the peer's figure.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/parameter_layout.h"

namespace cohort {

// ||got - want|| / ||want|| over [first, first + n); 0 where want is all zeros and got agrees.
inline double relative_l2_error(const std::vector<float>& got, const std::vector<float>& want,
                                size_t first, size_t n) {
  double diff = 0, norm = 0;
  for (size_t i = first; i < first + n; ++i) {
    const double d = double(got[i]) - double(want[i]);
    diff += d * d;
    norm += double(want[i]) * want[i];
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

inline std::string gradient_agreement(const ParameterLayout& layout, const std::vector<float>& got,
                                      const std::vector<float>& want, int worst = 5) {
  std::vector<std::pair<double, std::string>> errors;
  for (const ParameterTensor& t : layout.tensors())
    errors.emplace_back(relative_l2_error(got, want, t.offset, t.numel), t.name);
  std::sort(errors.rbegin(), errors.rend());
  std::string out = fmt::format("relative L2 error {:.3e} over all {} parameters; worst tensors:",
                                relative_l2_error(got, want, 0, layout.total()), layout.total());
  for (int i = 0; i < worst && i < int(errors.size()); ++i)
    out += fmt::format(" {} {:.3e}{}", errors[i].second, errors[i].first,
                       i + 1 < worst && i + 1 < int(errors.size()) ? "," : "");
  return out;
}

}  // namespace cohort
