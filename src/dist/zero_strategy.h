// ZeroStrategy (ZeRO stage 1, Rajbhandari et al. 2020): see strategy.h. Rank r owns
// the contiguous range even_blocks(total, N)[r] of the flat buffer; its optimizer state
// covers only that range, so optimizer memory per rank is divided by N. Each gradient
// bucket (gradient_buckets) is reduce-scattered onto the shards it meets on the
// communication thread as soon as backward completes it, as the all-reduce strategy's
// buckets are all-reduced; after the update every rank gathers the others' shards.
#pragma once

#include "dist/strategy.h"

namespace cohort {

class ZeroStrategy final : public CollectiveStrategy {
 public:
  ZeroStrategy(const StrategyConfig& config, Communicator& comm, ParameterBuffers& model,
               const OptimizerConfig& optim);
  std::string describe() const override;
  ParameterBuffers::GradReadyFn grad_ready_hook() override;
  void finish_gradients(float grad_divisor = 1.0f) override;
  float gradient_norm() override;
  void optimizer_step(float lr, float grad_scale = 1.0f) override;
  Optimizer* optimizer() override { return optimizer_.get(); }

 private:
  void start(size_t bucket);
  std::vector<size_t> counts_;  // every rank's shard
  size_t begin_ = 0, end_ = 0;  // this rank's
  std::unique_ptr<Optimizer> optimizer_;
  std::vector<GradientBucket> buckets_;
  std::vector<std::vector<size_t>> bucket_counts_;  // each bucket's part of every shard
  std::vector<std::unique_ptr<CommRequest>> pending_;
  size_t next_bucket_ = 0;
};

}  // namespace cohort
