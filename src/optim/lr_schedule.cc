#include "optim/lr_schedule.h"

#include <cmath>

namespace cohort {

float LrSchedule::at(long step) const {
  if (step < warmup) return lr * float(step + 1) / float(warmup);
  if (step >= total || total <= warmup) return min_lr;
  const double progress = double(step - warmup) / double(total - warmup);
  const double coeff = 0.5 * (1.0 + std::cos(M_PI * progress));
  return static_cast<float>(min_lr + coeff * (lr - min_lr));
}

}  // namespace cohort
