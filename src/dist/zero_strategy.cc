#include "dist/zero_strategy.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "optim/grad_clip.h"

namespace cohort {

ZeroStrategy::ZeroStrategy(const StrategyConfig& config, Communicator& comm,
                           ParameterBuffers& model, const OptimizerConfig& optim, int stage)
    : CollectiveStrategy(comm, model),
      stage_(stage),
      // A device's memory is not given back page by page (discard would only zero it, and
      // polling a bucket would make compute wait for it): there zero2 keeps zero1's buffer.
      gives_back_(stage >= 2 && model.backend().memory().is_host()),
      counts_(even_blocks(model.num_params(), comm.world())),
      buckets_(gradient_buckets(model, config.bucket_mb)) {
  for (int r = 0; r < comm.rank(); ++r) begin_ += counts_[size_t(r)];
  end_ = begin_ + counts_[size_t(comm.rank())];
  optimizer_ = make_optimizer(optim, model.layout(), model.backend(), begin_, end_);
  // A bucket [b, e) reduce-scatters onto the shards it meets: rank r receives the sum of
  // [b, e) ∩ its shard, which lie in rank order, contiguous, as MPI's blocks must.
  for (const GradientBucket& bucket : buckets_) {
    std::vector<size_t> counts(counts_.size());
    size_t shard_begin = 0;
    for (size_t r = 0; r < counts_.size(); ++r) {
      const size_t lo = std::max(bucket.begin, shard_begin);
      const size_t hi = std::min(bucket.end, shard_begin + counts_[r]);
      counts[r] = hi > lo ? hi - lo : 0;
      shard_begin += counts_[r];
    }
    bucket_counts_.push_back(std::move(counts));
  }
  if (stage == 3) {
    store_ = std::make_unique<ShardedParameters>(comm, model, counts_);
    model.set_parameter_store(store_.get());
  }
}

ZeroStrategy::~ZeroStrategy() {
  if (store_) model_.set_parameter_store(nullptr);
}

void ZeroStrategy::start(long step) {
  if (!store_) {
    CollectiveStrategy::start(step);
    return;
  }
  store_->release_all();
}

std::string ZeroStrategy::describe() const {
  return fmt::format("{} over {}, shard [{}, {}) of {}, {} buckets{}",
                     stage_ == 3 ? "fsdp" : fmt::format("zero{}", stage_), comm_.describe(), begin_,
                     end_, model_.num_params(), buckets_.size(),
                     store_ ? fmt::format(", {} parameter units", store_->units()) : "");
}

void ZeroStrategy::start(size_t bucket) {
  pending_.push_back(comm_.reduce_scatter_sum_async(model_.grads() + buckets_[bucket].begin,
                                                    bucket_counts_[bucket]));
}

ParameterBuffers::GradReadyFn ZeroStrategy::grad_ready_hook() {
  if (comm_.world() == 1) return {};
  next_bucket_ = 0;
  next_release_ = 0;
  pending_.clear();
  return [this](size_t unit) {
    while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].last_unit == unit)
      start(next_bucket_++);
    if (gives_back_) release_finished();
  };
}

void ZeroStrategy::release(size_t bucket) {
  const GradientBucket& b = buckets_[bucket];
  MemorySpace& mem = model_.backend().memory();
  float* g = model_.grads();
  if (b.begin < begin_)
    mem.discard(g + b.begin, (std::min(b.end, begin_) - b.begin) * sizeof(float));
  if (b.end > end_) {
    const size_t lo = std::max(b.begin, end_);
    mem.discard(g + lo, (b.end - lo) * sizeof(float));
  }
}

void ZeroStrategy::release_finished() {
  while (next_release_ < pending_.size() && pending_[next_release_]->finished())
    release(next_release_++);
}

void ZeroStrategy::finish_gradients(float grad_divisor) {
  const float s = 1.0f / (float(comm_.world()) * grad_divisor);
  if (comm_.world() > 1) {
    // Buckets not started by the hook (a backward run without it) go now.
    for (; next_bucket_ < buckets_.size(); ++next_bucket_) start(next_bucket_);
    for (auto& r : pending_) r->wait();
    if (gives_back_)
      for (; next_release_ < pending_.size(); ++next_release_) release(next_release_);
    pending_.clear();
    next_bucket_ = 0;
    next_release_ = 0;
  }
  if (s != 1.0f) model_.backend().scale(model_.grads() + begin_, s, end_ - begin_);
}

float ZeroStrategy::gradient_norm() {
  double ss = model_.backend().sum_squares(model_.grads() + begin_, end_ - begin_);
  comm_.all_reduce_sum(&ss, 1);
  return static_cast<float>(std::sqrt(ss));
}

void ZeroStrategy::optimizer_step(float lr, float grad_scale) {
  optimizer_->step(model_.params(), model_.grads(), lr, grad_scale);
  if (store_)
    store_->release_all();  // every unit's copy outside the shard is now stale
  else
    comm_.all_gather(model_.params(), counts_);
}

// Stage 2 on more than one rank: outside the shard the exchange left zeros (discard).
void ZeroStrategy::zero_gradients(ParameterBuffers& model) {
  if (!gives_back_ || comm_.world() == 1) {
    model.zero_grad();
    return;
  }
  model.backend().memory().fill_zero(model.grads() + begin_, (end_ - begin_) * sizeof(float));
}

}  // namespace cohort
