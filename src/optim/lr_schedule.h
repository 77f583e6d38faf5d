// Learning rate: linear warmup from lr/warmup to lr over `warmup` steps, then cosine
// decay to min_lr at `total` steps, min_lr after (nanoGPT's get_lr).
#pragma once

namespace cohort {

struct LrSchedule {
  float lr = 3e-4f;
  float min_lr = 3e-5f;
  long warmup = 0;
  long total = 1;
  float at(long step) const;  // step counts from 0
};

}  // namespace cohort
