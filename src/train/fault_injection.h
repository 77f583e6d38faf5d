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
// rank that should die or straggle.
#pragma once

#include <set>
#include <utility>
#include <vector>

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

}  // namespace cohort
