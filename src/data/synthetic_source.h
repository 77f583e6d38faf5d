// SyntheticSource: generated token streams with learnable structure, for demos and
// benchmarks without a corpus. Each token is followed by one of `branching` successors
// fixed by the seed, chosen uniformly: a model that learns the table reaches a loss of
// ln(branching), far below the ln(V) of its first steps. branching == 0 gives uniform
// random tokens (what benchmarks use).
#pragma once

#include <cstdint>
#include <vector>

#include "data/batch_source.h"

namespace cohort {

class SyntheticSource final : public BatchSource {
 public:
  SyntheticSource(int vocab_size, int branching, uint64_t seed);
  void fill(long step, int micro, int B, int T, int32_t* inputs, int32_t* targets) override;
  // Under data parallelism: rank r's micro-batch m holds global samples
  // (r * grad_accum + m) * B + b of the step, as ShardedLoader orders them.
  void set_rank(int rank, int grad_accum) {
    rank_ = rank;
    grad_accum_ = grad_accum;
  }
  int vocab_size() const override { return vocab_size_; }
  std::string describe() const override;

 private:
  int vocab_size_, branching_;
  uint64_t seed_;
  int rank_ = 0, grad_accum_ = 1;
  std::vector<int32_t> successors_;  // (V, branching)
};

}  // namespace cohort
