// ShardedParameters: fsdp's parameter store (ParameterStore; ZeRO stage 3). Between uses a
// rank holds only its shard [begin, end) of the flat parameter buffer; the rest reads as
// zeros and, on the host, its pages are given back (MemorySpace::discard). A unit is
// all-gathered when the model asks for it and given back when it releases it. Each gather
// also starts the all-gather of the unit the pass reads next (forward: unit - 1, backward:
// unit + 1) on the communication thread, in order with the gradient buckets' reduce-scatters,
// so the next unit's parameters arrive while this one computes.
#pragma once

#include <memory>
#include <vector>

#include "backend/parameter_buffers.h"
#include "dist/communicator.h"

namespace cohort {

class ShardedParameters final : public ParameterStore {
 public:
  // shards: every rank's shard size, in rank order (this rank's is [begin, end)).
  ShardedParameters(Communicator& comm, ParameterBuffers& model, const std::vector<size_t>& shards);
  void gather(size_t unit, Pass pass) override;
  void release(size_t unit) override;
  // Every unit given back: after the optimizer has updated the shards, or at the start.
  void release_all();
  // Every parameter readable (a check or a full copy); release_all() ends it.
  void gather_all();
  size_t units() const { return state_.size(); }

 private:
  enum class State { shard, arriving, whole };
  void start(size_t unit);
  void discard_outside_shard(size_t unit);
  Communicator& comm_;
  ParameterBuffers& model_;
  size_t begin_ = 0, end_ = 0;                     // this rank's shard
  std::vector<std::pair<size_t, size_t>> ranges_;  // each unit's, from grad_ready_ranges()
  std::vector<std::vector<size_t>> counts_;        // each unit's part of every shard
  std::vector<State> state_;
  std::vector<std::unique_ptr<CommRequest>> pending_;  // per unit, while arriving
};

}  // namespace cohort
