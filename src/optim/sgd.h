// Plain SGD, theta <- theta - lr * g, with optional heavy-ball momentum as PyTorch's
// torch.optim.SGD defines it (buf = momentum * buf + g; theta -= lr * buf).
#pragma once

#include "optim/optimizer.h"

namespace cohort {

class Sgd final : public Optimizer {
 public:
  Sgd(const OptimizerConfig& config, Backend& backend, size_t begin, size_t end);
  void step_shard(float* params, const float* grads, float lr, float grad_scale) override;
  std::vector<OptimizerStateBuffer> state() override {
    if (buf_.size() == 0) return {};
    return {{"momentum", buf_.data(), buf_.size(), &buf_.space()}};
  }

 private:
  float momentum_;
  Backend& backend_;
  Arena buf_;  // momentum buffer; empty without momentum
};

}  // namespace cohort
