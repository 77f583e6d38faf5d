// DynamicLossScaler: loss scaling for fp16 training, as NVIDIA Apex and PyTorch's
// GradScaler do it. fp16 keeps 10 mantissa bits but only 5 exponent bits, so small
// gradients underflow to 0; the loss is multiplied by scale() before backward (the model
// takes it as backward's loss_scale) and the gradients divided by it afterwards. A
// scale too large overflows to inf somewhere in backward: then the step is skipped and
// the scale halved; after growth_interval clean steps in a row it doubles. Powers of two
// only, so scaling and unscaling are exact in fp32.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/backend.h"

namespace cohort {

class DynamicLossScaler {
 public:
  struct Options {
    float init_scale = 65536.0f;  // 2^16
    int growth_interval = 2000;
  };
  DynamicLossScaler() : DynamicLossScaler(Options{}) {}
  explicit DynamicLossScaler(const Options& options);

  float scale() const { return scale_; }
  // Divides grads (n, in the backend's memory) by scale() and tells whether all of them
  // are finite. When it returns false the caller skips the optimizer step (the grads are
  // garbage) and must still call update(false).
  bool unscale(Backend& backend, float* grads, size_t n) const;
  // After each step: halves the scale on overflow, doubles it after growth_interval
  // finite steps in a row (never above 2^24 nor below 1).
  void update(bool grads_finite);
  int64_t skipped_steps() const { return skipped_; }

 private:
  Options options_;
  float scale_;
  int clean_run_ = 0;
  int64_t skipped_ = 0;
};

}  // namespace cohort
