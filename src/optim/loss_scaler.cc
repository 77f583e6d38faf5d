#include "optim/loss_scaler.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"

namespace cohort {

namespace {
constexpr float kMaxScale = 16777216.0f;  // 2^24
bool power_of_two(float x) {
  int e = 0;
  return x > 0.0f && std::frexp(x, &e) == 0.5f;
}
}  // namespace

DynamicLossScaler::DynamicLossScaler(const Options& options)
    : options_(options), scale_(options.init_scale) {
  if (!power_of_two(options.init_scale) || options.init_scale > kMaxScale)
    throw Error(
        fmt::format("loss scale {}: must be a power of two in [1, 2^24]", options.init_scale));
  if (options.growth_interval < 1)
    throw Error(
        fmt::format("loss scale growth interval {}: must be >= 1", options.growth_interval));
}

bool DynamicLossScaler::unscale(Backend& backend, float* grads, size_t n) const {
  // inf and NaN survive the sum: one pass tells whether any gradient overflowed.
  const double ss = backend.sum_squares(grads, n);
  if (!std::isfinite(ss)) return false;
  backend.scale(grads, 1.0f / scale_, n);
  return true;
}

void DynamicLossScaler::update(bool grads_finite) {
  if (!grads_finite) {
    ++skipped_;
    clean_run_ = 0;
    scale_ = std::max(1.0f, scale_ * 0.5f);
    return;
  }
  if (++clean_run_ >= options_.growth_interval) {
    clean_run_ = 0;
    scale_ = std::min(kMaxScale, scale_ * 2.0f);
  }
}

}  // namespace cohort
