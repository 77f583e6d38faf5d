// ZeroStrategy (ZeRO stages 1 and 2, Rajbhandari et al. 2020): see strategy.h. Rank r owns
// the contiguous range even_blocks(total, N)[r] of the flat buffer; its optimizer state
// covers only that range, so optimizer memory per rank is divided by N. Each gradient
// bucket (gradient_buckets) is reduce-scattered onto the shards it meets on the
// communication thread as soon as backward completes it, as the all-reduce strategy's
// buckets are all-reduced; after the update every rank gathers the others' shards.
// Stage 2 also gives back, as each bucket's exchange finishes, the part of the bucket's
// gradients outside this rank's shard (MemorySpace::discard: on the host, its pages
// return to the system), so no full gradient buffer stays resident past backward: the
// gradients a rank holds are its shard and the buckets backward is writing or sending.
// With grad_accum > 1 the earlier micro-batches still accumulate into the whole buffer.
// Stage 3 (fsdp) also shards the parameters: the model reads them through a
// ShardedParameters store, which gathers each unit just before its use, and after the update
// no rank gathers the whole buffer.
#pragma once

#include <memory>

#include "dist/sharded_parameters.h"
#include "dist/strategy.h"

namespace cohort {

class ZeroStrategy final : public CollectiveStrategy {
 public:
  ZeroStrategy(const StrategyConfig& config, Communicator& comm, ParameterBuffers& model,
               const OptimizerConfig& optim, int stage = 1);
  ~ZeroStrategy() override;
  std::string describe() const override;
  ParameterBuffers::GradReadyFn grad_ready_hook() override;
  void finish_gradients(float grad_divisor = 1.0f) override;
  float gradient_norm() override;
  void optimizer_step(float lr, float grad_scale = 1.0f) override;
  Optimizer* optimizer() override { return optimizer_.get(); }
  void zero_gradients(ParameterBuffers& model) override;
  // Stage 3: the replicas hold nothing whole to broadcast; each keeps its own shard.
  void start(long step) override;
  // This rank's shard of the flat buffer.
  size_t shard_begin() const { return begin_; }
  size_t shard_end() const { return end_; }
  // Stage 3's store (null below stage 3).
  ShardedParameters* sharded_parameters() { return store_.get(); }

 private:
  void start(size_t bucket);
  void release(size_t bucket);  // stage 2: the bucket's gradients outside the shard
  void release_finished();      // stage 2: each bucket whose exchange has finished, in order
  int stage_;
  bool gives_back_;  // stage 2 or 3 on host memory
  size_t next_release_ = 0;
  std::vector<size_t> counts_;  // every rank's shard
  size_t begin_ = 0, end_ = 0;  // this rank's
  std::unique_ptr<Optimizer> optimizer_;
  std::vector<GradientBucket> buckets_;
  std::vector<std::vector<size_t>> bucket_counts_;  // each bucket's part of every shard
  std::vector<std::unique_ptr<CommRequest>> pending_;
  size_t next_bucket_ = 0;
  std::unique_ptr<ShardedParameters> store_;
};

}  // namespace cohort
