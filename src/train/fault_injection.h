// Test-only faults, injected from outside the step loop: decorators of the interfaces the
// loop already calls, installed only where a test (or a --test-* flag) builds them. The
// loop itself has no `if (testing)`.
//
// NonFiniteMicroBatches wraps a task's MicroBatches. At the chosen training steps, on the
// chosen rank, it makes
//   kLoss:     the step's first micro-batch loss NaN (so the step's loss is not finite);
//   kGradient: one parameter gradient NaN before the micro-batch's backward adds to it
//              (parameter gradients accumulate with +=), the loss staying finite: only
//              the gradient norm shows it.
// KillBeforeStep and SleepBeforeSteps are step observers (trainer.h), installed on the
// rank that should die or straggle. SkipAllGather wraps the strategy's communicator on the
// rank that should skip a collective (a unit's all-gather, under fsdp).
#pragma once

#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "dist/forwarding_communicator.h"
#include "model/model.h"
#include "train/trainer.h"

namespace cohort {

class NonFiniteMicroBatches final : public MicroBatches {
 public:
  enum class Fault { kLoss, kGradient };
  // rank: the rank that sees the fault (this process's rank is `my_rank`).
  NonFiniteMicroBatches(MicroBatches& inner, Model& model, Fault fault, std::set<long> steps,
                        int rank, int my_rank);
  float forward(long step, int micro, const ForwardOptions& options) override;

 private:
  MicroBatches& inner_;
  Model& model_;
  Fault fault_;
  std::set<long> steps_;
  bool mine_;
};

// SIGKILL, as a lost node would die, as `step` begins (stdout flushed first, so the
// test sees what the rank had printed).
class KillBeforeStep final : public StepObserver {
 public:
  explicit KillBeforeStep(long step) : step_(step) {}
  void before_step(long step) override;

 private:
  long step_;
};

// A straggler: sleeps the given milliseconds as each listed step begins.
class SleepBeforeSteps final : public StepObserver {
 public:
  explicit SleepBeforeSteps(std::vector<std::pair<long, long>> step_ms)
      : step_ms_(std::move(step_ms)) {}
  void before_step(long step) override;

 private:
  std::vector<std::pair<long, long>> step_ms_;
};

// A rank that skips a collective: the first all-gather started during `step` is never
// issued (its request reads as finished), as a bug that skipped a unit's gather would.
class SkipAllGather final : public ForwardingCommunicator, public StepObserver {
 public:
  SkipAllGather(Communicator& inner, long step) : ForwardingCommunicator(inner), step_(step) {}
  std::unique_ptr<CommRequest> all_gather_async(float* data,
                                                const std::vector<size_t>& counts) override;
  void before_step(long step) override { now_ = step; }

 private:
  long step_, now_ = -1;
  bool skipped_ = false;
};

// The faults a run was asked for (cohort train's hidden --test-* flags).
struct TestFaults {
  std::vector<long> nan_steps;  // rank 0's loss is NaN at these steps
  int kill_rank = -1;           // this rank SIGKILLs itself before kill_step (first run only)
  long kill_step = -1;
  struct Slow {
    int rank = -1;
    long step = 0, ms = 0;
  };
  std::vector<Slow> slow;     // rank sleeps ms before step
  int skip_gather_rank = -1;  // this rank skips its first all-gather of skip_gather_step
  long skip_gather_step = -1;
};

// This rank's decorators for `faults`: the micro-batches to train on (`batches` itself when
// no fault wraps them) and the step observers to add to the trainer. restarted: a job
// that cohort launch started again, which is not killed a second time.
class InstalledFaults {
 public:
  InstalledFaults(const TestFaults& faults, MicroBatches& batches, Model& model, int rank,
                  bool restarted);
  MicroBatches& batches() { return wrapped_ ? *wrapped_ : batches_; }
  // The communicator the strategy should use: `comm` itself, or a faulty decorator of it
  // (which observe() then tells the steps).
  Communicator& strategy_communicator(Communicator& comm);
  void observe(Trainer& trainer);

 private:
  const TestFaults& faults_;
  int rank_;
  std::unique_ptr<SkipAllGather> skip_;
  MicroBatches& batches_;
  std::unique_ptr<MicroBatches> wrapped_;
  std::vector<std::unique_ptr<StepObserver>> observers_;
};

}  // namespace cohort
