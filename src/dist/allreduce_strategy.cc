#include "dist/allreduce_strategy.h"

#include <fmt/format.h>

#include "core/bf16.h"
#include "core/error.h"
#include "optim/grad_clip.h"

namespace cohort {

AllReduceStrategy::AllReduceStrategy(const StrategyConfig& config, Communicator& comm,
                                     ParameterBuffers& model, const OptimizerConfig& optim)
    : CollectiveStrategy(comm, model),
      optimizer_(make_optimizer(optim, model.layout(), model.backend(), 0, model.num_params())),
      bf16_wire_(config.wire == "bf16") {
  if (bf16_wire_ && comm.world() > 1) wire_.resize(model.num_params());
  buckets_ = gradient_buckets(model, config.bucket_mb);
}

std::string AllReduceStrategy::describe() const {
  return fmt::format("allreduce over {}, {} buckets, {} on the wire", comm_.describe(),
                     buckets_.size(), bf16_wire_ ? "bf16" : "fp32");
}

void AllReduceStrategy::start(const GradientBucket& b) {
  float* g = model_.grads() + b.begin;
  const size_t n = b.end - b.begin;
  if (!bf16_wire_) {
    pending_.push_back(comm_.all_reduce_sum_async(g, n));
    return;
  }
  uint16_t* w = wire_.data() + b.begin;
  for (size_t i = 0; i < n; ++i) w[i] = float_to_bf16(g[i]);
  pending_.push_back(comm_.all_reduce_sum_bf16_async(w, n));
}

ParameterBuffers::GradReadyFn AllReduceStrategy::grad_ready_hook() {
  if (comm_.world() == 1) return {};
  next_bucket_ = 0;
  pending_.clear();
  return [this](size_t unit) {
    while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].last_unit == unit) {
      start(buckets_[next_bucket_++]);
    }
  };
}

void AllReduceStrategy::finish_gradients(float grad_divisor) {
  if (comm_.world() == 1) {
    if (grad_divisor != 1.0f)
      model_.backend().scale(model_.grads(), 1.0f / grad_divisor, model_.num_params());
    return;
  }
  // Buckets not started by the hook (a backward run without it) go now.
  for (; next_bucket_ < buckets_.size(); ++next_bucket_) start(buckets_[next_bucket_]);
  for (auto& r : pending_) r->wait();
  pending_.clear();
  if (bf16_wire_) {
    float* g = model_.grads();
    for (size_t i = 0; i < wire_.size(); ++i) g[i] = bf16_to_float(wire_[i]);
  }
  next_bucket_ = 0;
  model_.backend().scale(model_.grads(), 1.0f / (float(comm_.world()) * grad_divisor),
                         model_.num_params());
}

float AllReduceStrategy::gradient_norm() {
  return grad_norm(model_.backend(), model_.grads(), model_.num_params());
}

void AllReduceStrategy::optimizer_step(float lr, float grad_scale) {
  optimizer_->step(model_.params(), model_.grads(), lr, grad_scale);
}

}  // namespace cohort
