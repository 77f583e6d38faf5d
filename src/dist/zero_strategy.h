// ZeroStrategy (ZeRO stage 1, Rajbhandari et al. 2020): see strategy.h. Rank r owns
// the contiguous range even_blocks(total, N)[r] of the flat buffer; its optimizer state
// covers only that range, so optimizer memory per rank is divided by N.
#pragma once

#include "dist/strategy.h"

namespace cohort {

class ZeroStrategy final : public CollectiveStrategy {
 public:
  ZeroStrategy(Communicator& comm, ParameterBuffers& model, const OptimizerConfig& optim);
  std::string describe() const override;
  void finish_gradients(float grad_divisor = 1.0f) override;
  float gradient_norm() override;
  void optimizer_step(float lr, float grad_scale = 1.0f) override;
  Optimizer* optimizer() override { return optimizer_.get(); }

 private:
  std::vector<size_t> counts_;
  size_t begin_ = 0, end_ = 0;
  std::unique_ptr<Optimizer> optimizer_;
};

}  // namespace cohort
