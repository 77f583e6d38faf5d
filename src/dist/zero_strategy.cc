#include "dist/zero_strategy.h"

#include <fmt/format.h>

#include <cmath>

#include "optim/grad_clip.h"

namespace cohort {

ZeroStrategy::ZeroStrategy(Communicator& comm, ParameterBuffers& model,
                           const OptimizerConfig& optim)
    : CollectiveStrategy(comm, model), counts_(even_blocks(model.num_params(), comm.world())) {
  for (int r = 0; r < comm.rank(); ++r) begin_ += counts_[size_t(r)];
  end_ = begin_ + counts_[size_t(comm.rank())];
  optimizer_ = make_optimizer(optim, model.layout(), model.backend(), begin_, end_);
}

std::string ZeroStrategy::describe() const {
  return fmt::format("zero1 over {}, shard [{}, {}) of {}", comm_.describe(), begin_, end_,
                     model_.num_params());
}

void ZeroStrategy::finish_gradients(float grad_divisor) {
  const float s = 1.0f / (float(comm_.world()) * grad_divisor);
  if (comm_.world() > 1) comm_.reduce_scatter_sum(model_.grads(), counts_);
  if (s != 1.0f) model_.backend().scale(model_.grads() + begin_, s, end_ - begin_);
}

float ZeroStrategy::gradient_norm() {
  double ss = model_.backend().sum_squares(model_.grads() + begin_, end_ - begin_);
  comm_.all_reduce_sum(&ss, 1);
  return static_cast<float>(std::sqrt(ss));
}

void ZeroStrategy::optimizer_step(float lr, float grad_scale) {
  optimizer_->step(model_.params(), model_.grads(), lr, grad_scale);
  comm_.all_gather(model_.params(), counts_);
}

}  // namespace cohort
