// Keep/drop decisions for dropout, drawn from Philox keyed by DropoutKey (see
// backend.h). Element i of sample s uses word i%4 of block
// philox({i/4, s, site, step}, seed): the same decision wherever and whenever it is
// drawn, so backward regenerates the mask instead of storing it.
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "core/philox.h"

namespace cohort {

class DropoutStream {
 public:
  DropoutStream(const DropoutKey& key, uint32_t sample, uint64_t start_index)
      : key_{static_cast<uint32_t>(key.seed), static_cast<uint32_t>(key.seed >> 32)},
        site_(key.site),
        step_(key.step),
        sample_(sample),
        index_(start_index),
        p_(key.p),
        keep_scale_(1.0f / (1.0f - key.p)) {
    refill();
  }
  // The multiplier of the next element: 0 (dropped) or 1/(1-p).
  float next() {
    if ((index_ & 3) == 0) refill();
    const float u = uniform_from_bits(block_[index_ & 3]);
    ++index_;
    return u < p_ ? 0.0f : keep_scale_;
  }

 private:
  void refill() {
    block_ = philox4x32({static_cast<uint32_t>(index_ >> 2), sample_, site_, step_}, key_);
  }
  PhiloxKey key_;
  uint32_t site_, step_, sample_;
  uint64_t index_;
  float p_, keep_scale_;
  PhiloxCounter block_{};
};

}  // namespace cohort
