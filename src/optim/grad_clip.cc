#include "optim/grad_clip.h"

#include <algorithm>
#include <cmath>

namespace cohort {

float grad_norm(Backend& backend, const float* grads, size_t n) {
  return static_cast<float>(std::sqrt(backend.sum_squares(grads, n)));
}

float clip_grad_norm(Backend& backend, float* grads, size_t n, float max_norm) {
  const float norm = grad_norm(backend, grads, n);
  const float s = clip_scale(norm, max_norm);
  if (s < 1.0f) backend.scale(grads, s, n);
  return norm;
}

float clip_scale(float norm, float max_norm) {
  if (max_norm <= 0.0f || !std::isfinite(norm)) return 1.0f;
  return std::min(1.0f, max_norm / (norm + 1e-6f));
}

}  // namespace cohort
