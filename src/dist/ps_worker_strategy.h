// PsWorkerStrategy: a parameter server's worker (see strategy.h, ps_roles.h). It
// keeps a full replica of the parameters for compute only: no optimizer state. Each
// step it pushes each server its range of the gradient and pulls the new parameters.
// Synchronous (staleness 0): the servers average all workers' gradients and clip by
// the global norm. Asynchronous (staleness s > 0): the worker clips its own gradient
// by its own norm, and each server applies it on arrival; the pull for step k is
// answered once every worker has finished step k - s.
#pragma once

#include "dist/ps_protocol.h"
#include "dist/ps_roles.h"
#include "dist/strategy.h"

namespace cohort {

class PsWorkerStrategy final : public Strategy {
 public:
  PsWorkerStrategy(const StrategyConfig& config, Communicator& comm, ParameterBuffers& model);
  std::string describe() const override;
  void start(long step) override;
  // grad_divisor must be 1: loss scaling (fp16) runs on one GPU or collectives only.
  UpdateResult update(long step, float max_norm, float lr, bool skip,
                      float grad_divisor = 1.0f) override;
  Optimizer* optimizer() override { return nullptr; }
  bool synchronous() const override { return staleness_ == 0; }

  // The servers' counters, summed over servers (maxima: the largest), as of the
  // last replies.
  const PsServerStats& server_stats() const { return stats_; }
  // Seconds this worker has spent communicating with the servers: sending its
  // gradient and waiting for the parameters.
  double wait_seconds() const { return wait_seconds_; }

 private:
  // Each server's reply and range of parameters: posted, then awaited.
  std::vector<std::unique_ptr<CommRequest>> post_replies();
  void finish_replies(std::vector<std::unique_ptr<CommRequest>> receives);
  Communicator& comm_;
  ParameterBuffers& model_;
  PsRoles roles_;
  std::vector<FlatRange> ranges_;
  int staleness_ = 0;
  std::vector<PsReply> replies_;  // one per server
  float last_norm_ = 0.0f;
  bool last_applied_ = true;
  PsServerStats stats_;
  double wait_seconds_ = 0.0;
};

}  // namespace cohort
