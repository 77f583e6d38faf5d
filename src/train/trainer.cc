#include "train/trainer.h"

#include <cmath>
#include <optional>

#include "core/timer.h"

namespace cohort {

LmMicroBatches::LmMicroBatches(Gpt& model, BatchSource& data, int B, int T)
    : model_(model), data_(data), B_(B), T_(T), inputs_(size_t(B) * T), targets_(size_t(B) * T) {
  // Training needs only the loss and its gradient: the softmax may replace the logits.
  if (model_.planned_batch() < B || model_.planned_seq() < T) model_.plan(B, T, false);
}

float LmMicroBatches::forward(long step, int micro, const ForwardOptions& options) {
  data_.fill(step, micro, B_, T_, inputs_.data(), targets_.data());
  return model_.forward(inputs_.data(), targets_.data(), B_, T_, options);
}

Trainer::Trainer(Gpt& model, Strategy& strategy, Communicator& comm, BatchSource& data,
                 const TrainConfig& config, const LrSchedule& schedule)
    : lm_batches_(std::make_unique<LmMicroBatches>(model, data, config.batch_size, config.seq_len)),
      model_(model),
      batches_(*lm_batches_),
      strategy_(strategy),
      comm_(comm),
      config_(config),
      schedule_(schedule) {}

Trainer::Trainer(Model& model, MicroBatches& batches, Strategy& strategy, Communicator& comm,
                 const TrainConfig& config, const LrSchedule& schedule)
    : model_(model),
      batches_(batches),
      strategy_(strategy),
      comm_(comm),
      config_(config),
      schedule_(schedule) {}

StepResult Trainer::step() {
  for (StepObserver* o : observers_) o->before_step(step_);
  if (watchdog_) watchdog_->begin_step(step_);
  Timer timer;
  auto now = [&] {
    if (device_sync_) device_sync_();
    return timer.seconds();
  };
  const int B = config_.batch_size, M = config_.grad_accum;
  const float loss_scale = scaler_ ? scaler_->scale() : 1.0f;
  double loss_sum = 0.0;
  double forward_seconds = 0.0, backward_seconds = 0.0;
  for (int micro = 0; micro < M; ++micro) {
    ForwardOptions opt;
    opt.training = true;
    opt.dropout_seed = config_.seed;
    opt.step = static_cast<uint32_t>(step_);
    // The global index of this micro-batch's first sample: ranks read contiguous parts
    // of the global batch (ShardedLoader's order), so dropout masks follow samples.
    opt.sample_offset = static_cast<uint32_t>((comm_.rank() * M + micro) * B);
    const double t0 = now();
    loss_sum += batches_.forward(step_, micro, opt);
    const double t1 = now();
    model_.backward(loss_scale / float(M),
                    micro + 1 == M ? strategy_.grad_ready_hook() : Model::GradReadyFn{});
    forward_seconds += t1 - t0;
    backward_seconds += now() - t1;
  }
  StepResult r;
  r.step = step_;
  r.lr = schedule_.at(step_);
  std::optional<CommWatchdog::Guard> watched;
  if (watchdog_) watched.emplace(watchdog_->watch("the step's gradient exchange", step_));
  double loss = loss_sum / M;
  if (strategy_.synchronous()) {
    comm_.all_reduce_sum(&loss, 1);
    loss /= comm_.world();
  }
  r.loss = static_cast<float>(loss);
  // A non-finite loss skips the step even if the gradients look finite.
  const double update_start = now();
  const UpdateResult u =
      strategy_.update(step_, config_.grad_clip, r.lr, !std::isfinite(loss), loss_scale);
  r.update_seconds = now() - update_start;
  r.forward_seconds = forward_seconds;
  r.backward_seconds = backward_seconds;
  r.grad_norm = u.grad_norm;
  r.skipped = !u.applied;
  r.loss_scale = loss_scale;
  if (scaler_) {
    // At scale 1 nothing is left to halve: an overflow there is a real divergence.
    r.overflow = r.skipped && std::isfinite(loss) && loss_scale > 1.0f;
    scaler_->update(u.applied);
  }
  watched.reset();
  strategy_.zero_gradients(model_);
  r.seconds = now();
  ++step_;
  return r;
}

float Trainer::evaluate(long first_step, int batches) {
  double sum = 0.0;
  for (int i = 0; i < batches; ++i) sum += batches_.forward(first_step + i, 0, ForwardOptions{});
  comm_.all_reduce_sum(&sum, 1);
  return static_cast<float>(sum / batches / comm_.world());
}

}  // namespace cohort
