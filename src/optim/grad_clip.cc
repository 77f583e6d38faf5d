#include "optim/grad_clip.h"

#include <cmath>

namespace cohort {

float clip_grad_norm(Backend& backend, float* grads, size_t n, float max_norm) {
  const float norm = static_cast<float>(std::sqrt(backend.sum_squares(grads, n)));
  if (max_norm > 0.0f && std::isfinite(norm)) {
    const float coeff = max_norm / (norm + 1e-6f);
    if (coeff < 1.0f) backend.scale(grads, coeff, n);
  }
  return norm;
}

}  // namespace cohort
