#include "optim/adamw.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace cohort {

AdamW::AdamW(const OptimizerConfig& config, const ParameterLayout& layout, Backend& backend,
             size_t begin, size_t end)
    : Optimizer(begin, end),
      config_(config),
      layout_(layout),
      backend_(backend),
      m_(end - begin, backend.memory()),
      v_(end - begin, backend.memory()) {
  // The tensors that overlap [begin, end) (a shard may start or end mid-tensor; the
  // layout packs them without gaps), runs of equal weight decay merged: one backend call
  // a step for the whole shard.
  for (const auto& t : layout_.tensors()) {
    const size_t lo = std::max(begin_, t.offset), hi = std::min(end_, t.offset + t.numel);
    if (lo >= hi) continue;
    const float decay = t.decay ? config_.weight_decay : 0.0f;
    if (segments_.empty() || segments_.back().weight_decay != decay)
      segments_.push_back({lo - begin_, decay});
  }
}

void AdamW::step_shard(float* params, const float* grads, float lr, float grad_scale) {
  ++t_;
  Backend::AdamWArgs args{lr,
                          config_.beta1,
                          config_.beta2,
                          config_.eps,
                          0.0f,
                          1.0f - static_cast<float>(std::pow(double(config_.beta1), double(t_))),
                          1.0f - static_cast<float>(std::pow(double(config_.beta2), double(t_))),
                          grad_scale};
  backend_.adamw_update_segments(params, grads, m_.data(), v_.data(), end_ - begin_, args,
                                 segments_);
}

}  // namespace cohort
