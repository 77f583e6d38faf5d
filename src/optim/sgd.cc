#include "optim/sgd.h"

namespace cohort {

Sgd::Sgd(const OptimizerConfig& config, Backend& backend, size_t begin, size_t end)
    : Optimizer(begin, end),
      momentum_(config.momentum),
      backend_(backend),
      buf_(config.momentum != 0.0f ? end - begin : 0, backend.memory()) {}

void Sgd::step_shard(float* params, const float* grads, float lr, float grad_scale) {
  ++t_;
  backend_.sgd_update(params, grads, momentum_ != 0.0f ? buf_.data() : nullptr, end_ - begin_, lr,
                      momentum_, grad_scale);
}

}  // namespace cohort
