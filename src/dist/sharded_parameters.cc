#include "dist/sharded_parameters.h"

#include <algorithm>

#include "core/error.h"

namespace cohort {

ShardedParameters::ShardedParameters(Communicator& comm, ParameterBuffers& model,
                                     const std::vector<size_t>& shards)
    : comm_(comm), model_(model), ranges_(model.grad_ready_ranges()) {
  COHORT_CHECK(int(shards.size()) == comm.world()) << "one shard per rank";
  for (int r = 0; r < comm.rank(); ++r) begin_ += shards[size_t(r)];
  end_ = begin_ + shards[size_t(comm.rank())];
  // A unit [b, e) gathers from the shards it meets: rank r sends [b, e) ∩ its shard; these
  // lie in rank order, contiguous, as an all-gather's blocks must.
  for (const auto& [b, e] : ranges_) {
    std::vector<size_t> counts(shards.size());
    size_t shard_begin = 0;
    for (size_t r = 0; r < shards.size(); ++r) {
      const size_t lo = std::max(b, shard_begin), hi = std::min(e, shard_begin + shards[r]);
      counts[r] = hi > lo ? hi - lo : 0;
      shard_begin += shards[r];
    }
    counts_.push_back(std::move(counts));
  }
  state_.assign(ranges_.size(), State::whole);  // until release_all(): the model's init
  pending_.resize(ranges_.size());
}

void ShardedParameters::start(size_t unit) {
  pending_[unit] = comm_.all_gather_async(model_.params() + ranges_[unit].first, counts_[unit]);
  state_[unit] = State::arriving;
}

void ShardedParameters::gather(size_t unit, Pass pass) {
  COHORT_CHECK(unit < state_.size()) << "unit " << unit << " of " << state_.size();
  if (state_[unit] == State::shard) start(unit);
  // The unit the pass reads next, fetched while this one computes.
  const size_t next = pass == Pass::forward ? unit - 1 : unit + 1;  // unit 0 - 1 wraps: none
  if (next < state_.size() && state_[next] == State::shard) start(next);
  if (state_[unit] == State::arriving) {
    pending_[unit]->wait();
    pending_[unit].reset();
    state_[unit] = State::whole;
  }
}

void ShardedParameters::discard_outside_shard(size_t unit) {
  const auto [b, e] = ranges_[unit];
  MemorySpace& mem = model_.backend().memory();
  float* p = model_.params();
  if (b < begin_) mem.discard(p + b, (std::min(e, begin_) - b) * sizeof(float));
  if (e > end_) {
    const size_t lo = std::max(b, end_);
    mem.discard(p + lo, (e - lo) * sizeof(float));
  }
}

void ShardedParameters::release(size_t unit) {
  COHORT_CHECK(unit < state_.size()) << "unit " << unit << " of " << state_.size();
  if (state_[unit] == State::shard) return;
  if (state_[unit] == State::arriving) {  // prefetched, never read: it must still land
    pending_[unit]->wait();
    pending_[unit].reset();
  }
  discard_outside_shard(unit);
  state_[unit] = State::shard;
}

void ShardedParameters::release_all() {
  for (size_t u = 0; u < state_.size(); ++u) release(u);
}

void ShardedParameters::gather_all() {
  for (size_t u = 0; u < state_.size(); ++u)
    if (state_[u] == State::shard) start(u);
  for (size_t u = 0; u < state_.size(); ++u) gather(u, Pass::backward);
}

}  // namespace cohort
