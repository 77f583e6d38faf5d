#include "train/trainer.h"

#include <cmath>
#include <optional>

#include "core/timer.h"

namespace cohort {

Trainer::Trainer(Gpt& model, Strategy& strategy, Communicator& comm, BatchSource& data,
                 const TrainConfig& config, const LrSchedule& schedule)
    : model_(model),
      strategy_(strategy),
      comm_(comm),
      data_(data),
      config_(config),
      schedule_(schedule),
      inputs_(size_t(config.batch_size) * config.seq_len),
      targets_(size_t(config.batch_size) * config.seq_len) {
  if (model_.planned_batch() < config.batch_size || model_.planned_seq() < config.seq_len) {
    model_.plan(config.batch_size, config.seq_len);
  }
}

StepResult Trainer::step() {
  Timer timer;
  const int B = config_.batch_size, T = config_.seq_len, M = config_.grad_accum;
  double loss_sum = 0.0;
  for (int micro = 0; micro < M; ++micro) {
    data_.fill(step_, micro, B, T, inputs_.data(), targets_.data());
    ForwardOptions opt;
    opt.training = true;
    opt.dropout_seed = config_.seed;
    opt.step = static_cast<uint32_t>(step_);
    // The global index of this micro-batch's first sample: ranks read contiguous parts
    // of the global batch (ShardedLoader's order), so dropout masks follow samples.
    opt.sample_offset = static_cast<uint32_t>((comm_.rank() * M + micro) * B);
    loss_sum += model_.forward(inputs_.data(), targets_.data(), B, T, opt);
    model_.backward(1.0f / float(M),
                    micro + 1 == M ? strategy_.grad_ready_hook() : Gpt::GradReadyFn{});
  }
  StepResult r;
  r.step = step_;
  r.lr = schedule_.at(step_);
  std::optional<CommWatchdog::Guard> watched;
  if (watchdog_) watched.emplace(watchdog_->watch("the step's gradient exchange", step_));
  double loss = loss_sum / M;
  if (poison_ && poison_(step_)) loss = NAN;
  if (strategy_.synchronous()) {
    comm_.all_reduce_sum(&loss, 1);
    loss /= comm_.world();
  }
  r.loss = static_cast<float>(loss);
  // A non-finite loss skips the step even if the gradients look finite.
  const UpdateResult u = strategy_.update(step_, config_.grad_clip, r.lr, !std::isfinite(loss));
  r.grad_norm = u.grad_norm;
  r.skipped = !u.applied;
  watched.reset();
  model_.zero_grad();
  r.seconds = timer.seconds();
  ++step_;
  return r;
}

float Trainer::evaluate(long first_step, int batches) {
  const int B = config_.batch_size, T = config_.seq_len;
  double sum = 0.0;
  for (int i = 0; i < batches; ++i) {
    data_.fill(first_step + i, 0, B, T, inputs_.data(), targets_.data());
    sum += model_.forward(inputs_.data(), targets_.data(), B, T, ForwardOptions{});
  }
  comm_.all_reduce_sum(&sum, 1);
  return static_cast<float>(sum / batches / comm_.world());
}

}  // namespace cohort
