// AllReduceStrategy: see strategy.h. A gradient bucket's (gradient_buckets) all-reduce
// starts on the communication thread as soon as backward reports its last unit. With wire = bf16 a
// bucket is rounded to bfloat16 first (half the bytes) and widened back after.
#pragma once

#include "dist/strategy.h"

namespace cohort {

class AllReduceStrategy final : public CollectiveStrategy {
 public:
  AllReduceStrategy(const StrategyConfig& config, Communicator& comm, ParameterBuffers& model,
                    const OptimizerConfig& optim);
  std::string describe() const override;
  ParameterBuffers::GradReadyFn grad_ready_hook() override;
  void finish_gradients(float grad_divisor = 1.0f) override;
  float gradient_norm() override;
  void optimizer_step(float lr, float grad_scale = 1.0f) override;
  Optimizer* optimizer() override { return optimizer_.get(); }

 private:
  std::unique_ptr<Optimizer> optimizer_;
  std::vector<GradientBucket> buckets_;
  void start(const GradientBucket& b);

  std::vector<std::unique_ptr<CommRequest>> pending_;
  size_t next_bucket_ = 0;
  bool bf16_wire_ = false;
  std::vector<uint16_t> wire_;  // bf16 copies of the gradients while they travel
};

}  // namespace cohort
