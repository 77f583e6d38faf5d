// Trainer: the step loop of design.md for one rank. A step runs grad_accum
// micro-batches (forward, backward with loss scale 1/grad_accum so the gradients are
// the mean over the rank's batch; the last backward may start communication through
// the strategy's hook), then the strategy averages gradients over ranks, clips the
// global norm, and updates with the scheduled learning rate. `comm` holds the ranks
// that compute (a parameter server's workers, without its servers).
#pragma once

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "data/batch_source.h"
#include "dist/comm_watchdog.h"
#include "dist/communicator.h"
#include "dist/strategy.h"
#include "model/gpt.h"
#include "optim/loss_scaler.h"
#include "optim/lr_schedule.h"
#include "train/train_config.h"

namespace cohort {

struct StepResult {
  long step = 0;           // the step just taken, from 0
  float loss = 0.0f;       // mean over the step's global batch (asynchronous: this rank's)
  float grad_norm = 0.0f;  // before clipping
  float lr = 0.0f;
  double seconds = 0.0;  // the whole step; its parts (benchmarks report them):
  double forward_seconds = 0.0, backward_seconds = 0.0;  // every micro-batch's, summed
  double update_seconds = 0.0;  // the strategy's update: gradient exchange, norm, optimizer
  bool skipped = false;         // the loss or gradient norm was not finite: no update
  // fp16: the gradients overflowed at this loss scale (the loss was finite); the step
  // was skipped and the scale halved, which is how loss scaling finds its scale.
  bool overflow = false;
  float loss_scale = 1.0f;  // the scale this step's backward ran with
};

// A task's micro-batches: fills this rank's share of micro-batch `micro` of `step`
// (a pure function of both) and runs the model's forward on it; returns the mean loss.
// The language model's is below; the encoder and seq2seq tasks have their own
// (train/task_batches.h).
class MicroBatches {
 public:
  virtual ~MicroBatches() = default;
  virtual float forward(long step, int micro, const ForwardOptions& options) = 0;
};

// The GPT's: B x T tokens from a BatchSource, targets shifted by one.
class LmMicroBatches : public MicroBatches {
 public:
  LmMicroBatches(Gpt& model, BatchSource& data, int B, int T);
  float forward(long step, int micro, const ForwardOptions& options) override;

 private:
  Gpt& model_;
  BatchSource& data_;
  int B_, T_;
  std::vector<int32_t> inputs_, targets_;  // (B, T), reused every micro-batch
};

// Watches the step loop from outside: told as each step begins. The test faults of
// fault_injection.h (a rank that dies or stalls before a step) are observers, so the
// loop itself holds no test code.
class StepObserver {
 public:
  virtual ~StepObserver() = default;
  virtual void before_step(long step) = 0;
};

class Trainer {
 public:
  // The language model on `data`.
  Trainer(Gpt& model, Strategy& strategy, Communicator& comm, BatchSource& data,
          const TrainConfig& config, const LrSchedule& schedule);
  // Any model family with its task's micro-batches (config.batch_size per rank).
  Trainer(Model& model, MicroBatches& batches, Strategy& strategy, Communicator& comm,
          const TrainConfig& config, const LrSchedule& schedule);
  StepResult step();
  long next_step() const { return step_; }
  void set_next_step(long step) { step_ = step; }  // on resume
  // Called as each step begins, before its first micro-batch (not owned).
  void add_observer(StepObserver* observer) { observers_.push_back(observer); }
  // fp16: backward runs at the scaler's scale and the scaler follows each step's
  // verdict (may be null: no loss scaling).
  void set_loss_scaler(DynamicLossScaler* scaler) { scaler_ = scaler; }
  // Each step's communication becomes a watched region (may be null).
  void set_watchdog(CommWatchdog* watchdog) { watchdog_ = watchdog; }
  // For benchmarks on an asynchronous device: drain it (sync) before each of a step's time
  // stamps, so StepResult's parts are the device's times rather than the host's launch
  // times; a wait per micro-batch. Empty: off (the default).
  void set_device_sync(std::function<void()> sync) { device_sync_ = std::move(sync); }
  // Mean loss over `batches` batches drawn after the training steps, dropout off.
  float evaluate(long first_step, int batches);

 private:
  std::unique_ptr<LmMicroBatches> lm_batches_;  // owned when built for the GPT
  Model& model_;
  MicroBatches& batches_;
  Strategy& strategy_;
  Communicator& comm_;
  DynamicLossScaler* scaler_ = nullptr;
  TrainConfig config_;
  LrSchedule schedule_;
  long step_ = 0;
  std::vector<StepObserver*> observers_;
  CommWatchdog* watchdog_ = nullptr;
  std::function<void()> device_sync_;
};

}  // namespace cohort
