#include "train/fault_injection.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <thread>
#include <utility>

namespace cohort {

NonFiniteMicroBatches::NonFiniteMicroBatches(MicroBatches& inner, Model& model, Fault fault,
                                             std::set<long> steps, int rank, int my_rank)
    : inner_(inner),
      model_(model),
      fault_(fault),
      steps_(std::move(steps)),
      mine_(rank == my_rank) {}

float NonFiniteMicroBatches::forward(long step, int micro, const ForwardOptions& options) {
  float loss = inner_.forward(step, micro, options);
  if (!mine_ || micro != 0 || !options.training || !steps_.count(step)) return loss;
  if (fault_ == Fault::kLoss) return NAN;
  // The middle of the flat buffer: a weight of some block, in any bucket or shard order.
  const float nan = NAN;
  model_.backend().memory().copy_from_host(model_.grads() + model_.num_params() / 2, &nan,
                                           sizeof nan);
  return loss;
}

void KillBeforeStep::before_step(long step) {
  if (step != step_) return;
  std::fflush(stdout);
  std::raise(SIGKILL);
}

void SleepBeforeSteps::before_step(long step) {
  for (const auto& [at, ms] : step_ms_)
    if (at == step) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

std::unique_ptr<CommRequest> SkipAllGather::all_gather_async(float* data,
                                                             const std::vector<size_t>& counts) {
  if (now_ != step_ || skipped_) return inner_.all_gather_async(data, counts);
  skipped_ = true;
  return std::make_unique<DoneRequest>();
}

InstalledFaults::InstalledFaults(const TestFaults& faults, MicroBatches& batches, Model& model,
                                 int rank, bool restarted)
    : faults_(faults), rank_(rank), batches_(batches) {
  if (!faults.nan_steps.empty()) {
    wrapped_ = std::make_unique<NonFiniteMicroBatches>(
        batches, model, NonFiniteMicroBatches::Fault::kLoss,
        std::set<long>(faults.nan_steps.begin(), faults.nan_steps.end()), 0, rank);
  }
  if (faults.kill_rank == rank && !restarted)
    observers_.push_back(std::make_unique<KillBeforeStep>(faults.kill_step));
  std::vector<std::pair<long, long>> sleeps;
  for (const auto& s : faults.slow)
    if (s.rank == rank) sleeps.emplace_back(s.step, s.ms);
  if (!sleeps.empty()) observers_.push_back(std::make_unique<SleepBeforeSteps>(std::move(sleeps)));
}

Communicator& InstalledFaults::strategy_communicator(Communicator& comm) {
  if (faults_.skip_gather_rank != rank_) return comm;
  skip_ = std::make_unique<SkipAllGather>(comm, faults_.skip_gather_step);
  return *skip_;
}

void InstalledFaults::observe(Trainer& trainer) {
  for (auto& o : observers_) trainer.add_observer(o.get());
  if (skip_) trainer.add_observer(skip_.get());
}

}  // namespace cohort
