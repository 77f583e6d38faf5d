#include "dist/ps_worker_strategy.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/timer.h"
#include "optim/grad_clip.h"

namespace cohort {

PsWorkerStrategy::PsWorkerStrategy(const StrategyConfig& config, Communicator& comm,
                                   ParameterBuffers& model)
    : comm_(comm),
      model_(model),
      roles_(ps_roles(config.ps_servers, comm.world())),
      ranges_(ps_shard_ranges(model.layout(), config.ps_servers)),
      staleness_(config.staleness),
      replies_(size_t(config.ps_servers)) {}

std::string PsWorkerStrategy::describe() const {
  std::string shards;
  for (size_t k = 0; k < ranges_.size(); ++k) {
    shards += fmt::format("{}rank {} [{}, {})", k ? ", " : "", roles_.server_rank(int(k)),
                          ranges_[k].first, ranges_[k].second);
  }
  return fmt::format(
      "parameter server, {}: workers are ranks 0-{}, servers {} over {}",
      staleness_ == 0 ? "synchronous" : fmt::format("asynchronous, staleness <= {}", staleness_),
      roles_.workers - 1, shards, comm_.describe());
}

// Receives are posted before this worker sends anything: a server's reply must never
// wait for this worker to reach its receive, or a server replying to one worker and a
// worker pushing to that server could wait on each other in a cycle.
std::vector<std::unique_ptr<CommRequest>> PsWorkerStrategy::post_replies() {
  std::vector<std::unique_ptr<CommRequest>> receives;
  for (int k = 0; k < roles_.servers; ++k) {
    const int server = roles_.server_rank(k);
    const auto [begin, end] = ranges_[size_t(k)];
    receives.push_back(comm_.irecv(&replies_[size_t(k)], sizeof(PsReply), server, kPsReply));
    receives.push_back(
        comm_.irecv(model_.params() + begin, (end - begin) * sizeof(float), server, kPsParams));
  }
  return receives;
}

void PsWorkerStrategy::finish_replies(std::vector<std::unique_ptr<CommRequest>> receives) {
  for (auto& r : receives) r->wait();
  PsServerStats total;
  for (const PsReply& reply : replies_) {
    last_norm_ = reply.grad_norm;
    last_applied_ = reply.applied != 0;
    const PsServerStats& s = reply.stats;
    total.version += s.version;
    total.applied += s.applied;
    total.staleness_sum += s.staleness_sum;
    total.staleness_max = std::max(total.staleness_max, s.staleness_max);
    total.lead_max = std::max(total.lead_max, s.lead_max);
    total.bytes_in += s.bytes_in;
    total.bytes_out += s.bytes_out;
  }
  stats_ = total;
}

void PsWorkerStrategy::start(long step) {
  Timer waiting;
  auto receives = post_replies();
  PsRequest pull;
  pull.step = step;
  for (int k = 0; k < roles_.servers; ++k) {
    comm_.send(&pull, sizeof pull, roles_.server_rank(k), kPsRequest);
  }
  finish_replies(std::move(receives));
  wait_seconds_ += waiting.seconds();
}

UpdateResult PsWorkerStrategy::update(long step, float max_norm, float lr, bool skip,
                                      float grad_divisor) {
  COHORT_CHECK(grad_divisor == 1.0f) << "the parameter server takes unscaled gradients";
  float norm = 0.0f;
  if (staleness_ > 0) {
    norm = clip_grad_norm(model_.backend(), model_.grads(), model_.num_params(), max_norm);
    skip = skip || !std::isfinite(norm);
  }
  Timer waiting;
  auto receives = post_replies();
  PsRequest push;
  push.step = step;
  push.kind = kPsPush;
  push.lr = lr;
  push.skip = skip;
  std::vector<std::unique_ptr<CommRequest>> sends;
  for (int k = 0; k < roles_.servers; ++k) {
    const int server = roles_.server_rank(k);
    const auto [begin, end] = ranges_[size_t(k)];
    sends.push_back(comm_.isend(&push, sizeof push, server, kPsRequest));
    sends.push_back(
        comm_.isend(model_.grads() + begin, (end - begin) * sizeof(float), server, kPsGradient));
  }
  for (auto& s : sends) s->wait();
  finish_replies(std::move(receives));
  wait_seconds_ += waiting.seconds();
  if (staleness_ > 0) return {norm, !skip};
  return {last_norm_, last_applied_};
}

}  // namespace cohort
